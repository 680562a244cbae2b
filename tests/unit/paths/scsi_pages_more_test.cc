// scsi_pages: VPD pages longer than one INQUIRY's first allocation, and MODE SENSE.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "paths/scsi_pages.h"

namespace lunfs {
namespace {

using Page = std::vector<uint8_t>;

// A device identification page with a NAA designator and a SCSI name string of `name_length`
// bytes, then a T10 vendor id: long names (an iSCSI name with a long suffix) make pages longer
// than 255 bytes.
Page LongDeviceIdentification(size_t name_length) {
    Page body = {0x01, 0x03, 0x00, 0x08, 0x60, 0x01, 0x40, 0x50, 0x11, 0x22, 0x33, 0x44};
    body.insert(body.end(), {0x03, 0x08, 0x00, static_cast<uint8_t>(name_length)});
    body.insert(body.end(), name_length, 'n');
    body.insert(body.end(), {0x02, 0x01, 0x00, 0x04, 'L', 'U', 'N', 'F'});
    Page page = {0x00, 0x83, static_cast<uint8_t>(body.size() >> 8),
                 static_cast<uint8_t>(body.size() & 0xff)};
    page.insert(page.end(), body.begin(), body.end());
    return page;
}

TEST(VpdPageSizeTest, IsTheHeaderPlusThePageLength) {
    EXPECT_EQ(VpdPageSize(Page{0x00, 0x83, 0x01, 0x2c}), 304u);
    EXPECT_EQ(VpdPageSize(Page{0x00, 0x80, 0x00, 0x00}), 4u);
    EXPECT_EQ(VpdPageSize(Page{0x00, 0x80, 0x00}), 0u);
}

TEST(VpdPageSizeTest, TellsAPageCutAtTheAllocationLengthFromAWholeOne) {
    const Page page = LongDeviceIdentification(240);
    ASSERT_GT(page.size(), 255u);
    const Page cut(page.begin(), page.begin() + 255);
    EXPECT_EQ(VpdPageSize(cut), page.size());
    EXPECT_FALSE(ParseDeviceIdentificationPage(cut).ok());  // must be read again, whole
    EXPECT_EQ(VpdPageSize(page), page.size());
}

TEST(ParseDeviceIdentificationPageTest, ReadsAPageLongerThan255Bytes) {
    const Page page = LongDeviceIdentification(240);
    ASSERT_EQ(page.size(), 4u + 12 + 244 + 8);
    Result<std::vector<Designator>> r = ParseDeviceIdentificationPage(page);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->size(), 3u);
    EXPECT_EQ(r.value()[1].value.size(), 240u);
    EXPECT_EQ(r.value()[2].ToString(), "t10.LUNF");
    EXPECT_EQ(LunIdentity(r.value(), ""),
              "naa.6001405011223344,name." + std::string(240, 'n') + ",t10.LUNF");
}

// MODE SENSE(10) parameter data: header with `device_specific`, no block descriptors, then
// `pages`.
Page ModeSense10(uint8_t device_specific, const Page& pages, uint16_t bd_length = 0) {
    Page data(8, 0);
    const size_t length = 6 + bd_length + pages.size();
    data[0] = static_cast<uint8_t>(length >> 8);
    data[1] = static_cast<uint8_t>(length);
    data[3] = device_specific;
    data[7] = static_cast<uint8_t>(bd_length);
    data.insert(data.end(), bd_length, 0);
    data.insert(data.end(), pages.begin(), pages.end());
    return data;
}

Page CachingPage(bool wce) {
    Page page(20, 0);
    page[0] = 0x08;
    page[1] = 18;
    page[2] = wce ? 0x04 : 0x00;
    return page;
}

TEST(ParseModeSenseTest, ReadsWceAndDpofua) {
    Result<CachingMode> r = ParseModeSense10(ModeSense10(0x10, CachingPage(true)));
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->fua);
    EXPECT_EQ(r->write_cache, true);

    r = ParseModeSense10(ModeSense10(0x00, CachingPage(false)));
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->fua);
    EXPECT_EQ(r->write_cache, false);
}

TEST(ParseModeSenseTest, WriteProtectIsNotDpofua) {
    Result<CachingMode> r = ParseModeSense10(ModeSense10(0x80, CachingPage(true)));
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->fua);
}

TEST(ParseModeSenseTest, SkipsBlockDescriptorsAndOtherPages) {
    Page control(12, 0);
    control[0] = 0x0a;
    control[1] = 10;
    control[2] = 0x04;  // a set bit where the caching page has WCE: must not be read as it
    Page subpage = {0x4a, 0x01, 0x00, 0x02, 0x04, 0x04};  // control extension, subpage format
    Page pages = control;
    pages.insert(pages.end(), subpage.begin(), subpage.end());
    Page caching = CachingPage(false);
    pages.insert(pages.end(), caching.begin(), caching.end());
    Result<CachingMode> r = ParseModeSense10(ModeSense10(0x10, pages, 8));
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->fua);
    EXPECT_EQ(r->write_cache, false);
}

TEST(ParseModeSenseTest, MissingCachingPageLeavesWriteCacheUnknown) {
    Result<CachingMode> r = ParseModeSense10(ModeSense10(0x10, {}));
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->fua);
    EXPECT_FALSE(r->write_cache.has_value());
}

TEST(ParseModeSenseTest, ReadsOnlyWhatTheModeDataLengthCovers) {
    Page data = ModeSense10(0x00, {});
    Page caching = CachingPage(true);
    data.insert(data.end(), caching.begin(), caching.end());  // past the mode data length
    Result<CachingMode> r = ParseModeSense10(data);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->write_cache.has_value());
}

TEST(ParseModeSenseTest, ReadsModeSense6) {
    Page data = {0, 0, 0x10, 0};  // mode data length, medium type, DPOFUA, no block descriptor
    Page caching = CachingPage(false);
    data.insert(data.end(), caching.begin(), caching.end());
    data[0] = static_cast<uint8_t>(data.size() - 1);
    Result<CachingMode> r = ParseModeSense6(data);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->fua);
    EXPECT_EQ(r->write_cache, false);
}

TEST(ParseModeSenseTest, TruncatedAnswersNeverCrash) {
    const Page whole = ModeSense10(0x10, CachingPage(true), 8);
    for (size_t n = 0; n <= whole.size(); ++n) {
        const Page cut(whole.begin(), whole.begin() + static_cast<ptrdiff_t>(n));
        Result<CachingMode> r = ParseModeSense10(cut);
        EXPECT_EQ(r.ok(), n >= 8) << n;
        Result<CachingMode> r6 = ParseModeSense6(cut);
        EXPECT_EQ(r6.ok(), n >= 4) << n;
    }
}

}  // namespace
}  // namespace lunfs
