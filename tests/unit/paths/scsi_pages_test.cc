#include "paths/scsi_pages.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lunfs {
namespace {

using Page = std::vector<uint8_t>;

void Append(Page& page, std::string_view text) {
    page.insert(page.end(), text.begin(), text.end());
}

void PutBe(Page& page, size_t at, uint64_t value, size_t width) {
    for (size_t i = 0; i < width; ++i) {
        page[at + i] = static_cast<uint8_t>(value >> (8 * (width - 1 - i)));
    }
}

// A VPD page: peripheral byte 0, the page code, the body's length, the body.
Page Vpd(uint8_t code, const Page& body) {
    Page page{0x00, code, static_cast<uint8_t>(body.size() >> 8),
              static_cast<uint8_t>(body.size() & 0xff)};
    page.insert(page.end(), body.begin(), body.end());
    return page;
}

// One designation descriptor of page 0x83.
Page Descriptor(uint8_t code_set, uint8_t association, uint8_t type, const Page& value) {
    Page d{static_cast<uint8_t>(0x50 | code_set),  // protocol identifier 5: iSCSI
           static_cast<uint8_t>(association << 4 | type), 0x00, static_cast<uint8_t>(value.size())};
    d.insert(d.end(), value.begin(), value.end());
    return d;
}

Page Text(std::string_view text) { return Page(text.begin(), text.end()); }

Page Concat(std::initializer_list<Page> parts) {
    Page out;
    for (const Page& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

void ExpectProtocolError(const Status& status, std::string_view message) {
    EXPECT_EQ(status.code(), EPROTO);
    EXPECT_FALSE(status.retryable());
    EXPECT_EQ(status.message(), message);
}

const Page kNaa = {0x60, 0x01, 0x40, 0x5f, 0x3e, 0x2d, 0x1c, 0x0b,
                   0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};

// ---- Standard INQUIRY ----

// Copies `text` into `page` at `at`, padded with spaces to `width` bytes.
void PutText(Page& page, size_t at, std::string_view text, size_t width) {
    std::fill(page.begin() + at, page.begin() + at + width, ' ');
    std::copy(text.begin(), text.end(), page.begin() + at);
}

Page Inquiry(uint8_t byte0) {
    Page page(36, 0);
    page[0] = byte0;
    page[4] = 31;  // additional length
    PutText(page, 8, "LIO-ORG", 8);
    PutText(page, 16, "lunfs disk", 16);
    PutText(page, 32, "4.0", 4);
    return page;
}

TEST(ParseStandardInquiryTest, ReadsTypeAndTrimmedStrings) {
    Result<StandardInquiry> r = ParseStandardInquiry(Inquiry(0x00));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->qualifier, 0);
    EXPECT_EQ(r->device_type, 0);
    EXPECT_EQ(r->vendor, "LIO-ORG");
    EXPECT_EQ(r->product, "lunfs disk");
    EXPECT_EQ(r->revision, "4.0");
}

TEST(ParseStandardInquiryTest, ReadsQualifierThreeForNoLun) {
    Result<StandardInquiry> r = ParseStandardInquiry(Inquiry(0x7f));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->qualifier, 3);
    EXPECT_EQ(r->device_type, 0x1f);
}

TEST(ParseStandardInquiryTest, TrimsLeadingSpacesAndNulsAndBlanksUnprintables) {
    Page page = Inquiry(0x05);
    const std::string_view vendor("  IET\0\0\0", 8);
    std::copy(vendor.begin(), vendor.end(), page.begin() + 8);
    const Page product = {'a', 0x01, 'b', 0xff, 'c', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    std::copy(product.begin(), product.end(), page.begin() + 16);
    std::fill(page.begin() + 32, page.end(), 0);
    Result<StandardInquiry> r = ParseStandardInquiry(page);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->device_type, 5);
    EXPECT_EQ(r->vendor, "IET");
    EXPECT_EQ(r->product, "a b c");
    EXPECT_EQ(r->revision, "");
}

TEST(ParseStandardInquiryTest, IgnoresBytesPastTheStandardFields) {
    Page page = Inquiry(0x00);
    page.resize(96, 'x');
    Result<StandardInquiry> r = ParseStandardInquiry(page);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->revision, "4.0");
}

TEST(ParseStandardInquiryTest, RefusesAShortAnswer) {
    Page page = Inquiry(0x00);
    page.resize(35);
    Result<StandardInquiry> r = ParseStandardInquiry(page);
    ASSERT_FALSE(r.ok());
    ExpectProtocolError(r.status(), "target sent a bad standard INQUIRY: shorter than 36 bytes");
    EXPECT_FALSE(ParseStandardInquiry({}).ok());
}

// ---- VPD 0x80: unit serial number ----

TEST(ParseUnitSerialPageTest, ReadsTheTrimmedSerial) {
    Result<std::string> r = ParseUnitSerialPage(Vpd(0x80, Text("  beaf11234567  ")));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r.value(), "beaf11234567");
}

TEST(ParseUnitSerialPageTest, ReadsOnlyWhatThePageLengthCovers) {
    Page page = Vpd(0x80, Text("abc"));
    Append(page, "junk");
    Result<std::string> r = ParseUnitSerialPage(page);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value(), "abc");
}

TEST(ParseUnitSerialPageTest, EmptySerialIsEmpty) {
    Result<std::string> r = ParseUnitSerialPage(Vpd(0x80, {}));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value(), "");
}

TEST(ParseUnitSerialPageTest, RefusesAPageShorterThanItsHeader) {
    Result<std::string> r = ParseUnitSerialPage(Page{0x00, 0x80, 0x00});
    ASSERT_FALSE(r.ok());
    ExpectProtocolError(r.status(),
                        "target sent a bad unit serial number page: shorter than its header");
    EXPECT_FALSE(ParseUnitSerialPage({}).ok());
}

TEST(ParseUnitSerialPageTest, RefusesTheWrongPageCode) {
    Result<std::string> r = ParseUnitSerialPage(Vpd(0x83, Text("abc")));
    ASSERT_FALSE(r.ok());
    ExpectProtocolError(r.status(), "target sent a bad unit serial number page: page code 0x83");
}

TEST(ParseUnitSerialPageTest, RefusesAPageLengthPastTheData) {
    Page page = Vpd(0x80, Text("abcd"));
    page.pop_back();
    Result<std::string> r = ParseUnitSerialPage(page);
    ASSERT_FALSE(r.ok());
    ExpectProtocolError(
        r.status(), "target sent a bad unit serial number page: page length runs past the data");
    EXPECT_FALSE(ParseUnitSerialPage(Page{0x00, 0x80, 0xff, 0xff, 'a'}).ok());
}

// ---- VPD 0x83: device identification ----

// NAA and T10 ids of the logical unit, a relative target port designator and a SCSI name of the
// target device.
Page DeviceIdentification() {
    return Vpd(0x83, Concat({
                         Descriptor(1, 0, 3, kNaa),
                         Descriptor(2, 0, 1, Text("LIO-ORG disk1")),
                         Descriptor(1, 1, 4, Page{0x00, 0x00, 0x00, 0x01}),
                         Descriptor(3, 2, 8, Text(std::string_view("iqn.x,t,0x1\0", 12))),
                     }));
}

TEST(ParseDeviceIdentificationPageTest, ReadsEveryDesignator) {
    Result<std::vector<Designator>> r = ParseDeviceIdentificationPage(DeviceIdentification());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->size(), 4u);
    const std::vector<Designator>& d = r.value();

    EXPECT_EQ(d[0].code_set, 1);
    EXPECT_EQ(d[0].association, 0);
    EXPECT_EQ(d[0].type, 3);
    EXPECT_EQ(d[0].value, kNaa);
    EXPECT_EQ(d[0].ToString(), "naa.6001405f3e2d1c0b0011223344556677");

    EXPECT_EQ(d[1].code_set, 2);
    EXPECT_EQ(d[1].association, 0);
    EXPECT_EQ(d[1].type, 1);
    EXPECT_EQ(d[1].ToString(), "t10.LIO-ORG disk1");

    EXPECT_EQ(d[2].code_set, 1);
    EXPECT_EQ(d[2].association, 1);
    EXPECT_EQ(d[2].type, 4);
    EXPECT_EQ(d[2].value, (Page{0, 0, 0, 1}));
    EXPECT_EQ(d[2].ToString(), "type4.00000001");

    EXPECT_EQ(d[3].code_set, 3);
    EXPECT_EQ(d[3].association, 2);
    EXPECT_EQ(d[3].type, 8);
    EXPECT_EQ(d[3].ToString(), "name.iqn.x,t,0x1");
}

TEST(ParseDeviceIdentificationPageTest, IgnoresThePivBitAndProtocolIdentifier) {
    Page page = Vpd(0x83, Descriptor(1, 1, 4, Page{0, 1}));
    page[4] = 0xf1;   // protocol identifier 0xf
    page[5] |= 0x80;  // PIV
    Result<std::vector<Designator>> r = ParseDeviceIdentificationPage(page);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ(r.value()[0].code_set, 1);
    EXPECT_EQ(r.value()[0].association, 1);
    EXPECT_EQ(r.value()[0].type, 4);
}

TEST(ParseDeviceIdentificationPageTest, EmptyPageHasNoDesignators) {
    Result<std::vector<Designator>> r = ParseDeviceIdentificationPage(Vpd(0x83, {}));
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->empty());
}

TEST(ParseDeviceIdentificationPageTest, ZeroLengthDesignatorIsKeptEmpty) {
    Result<std::vector<Designator>> r =
        ParseDeviceIdentificationPage(Vpd(0x83, Descriptor(1, 0, 3, {})));
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->size(), 1u);
    EXPECT_TRUE(r.value()[0].value.empty());
}

TEST(ParseDeviceIdentificationPageTest, ReadsOnlyWhatThePageLengthCovers) {
    Page page = Vpd(0x83, Descriptor(1, 0, 3, kNaa));
    Page junk = Descriptor(1, 0, 2, Page(8, 0xee));
    page.insert(page.end(), junk.begin(), junk.end());
    Result<std::vector<Designator>> r = ParseDeviceIdentificationPage(page);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->size(), 1u);
}

TEST(ParseDeviceIdentificationPageTest, RefusesATruncatedDesignatorHeader) {
    Page body = Descriptor(1, 0, 3, kNaa);
    body.push_back(0x51);
    body.push_back(0x03);
    Result<std::vector<Designator>> r = ParseDeviceIdentificationPage(Vpd(0x83, body));
    ASSERT_FALSE(r.ok());
    ExpectProtocolError(
        r.status(), "target sent a bad device identification page: truncated designator header");
}

TEST(ParseDeviceIdentificationPageTest, RefusesADesignatorLongerThanThePage) {
    Page body = Descriptor(1, 0, 3, kNaa);
    body[3] = 17;  // one byte more than there is
    Result<std::vector<Designator>> r = ParseDeviceIdentificationPage(Vpd(0x83, body));
    ASSERT_FALSE(r.ok());
    ExpectProtocolError(
        r.status(), "target sent a bad device identification page: designator runs past the page");

    // The bytes after the page length do not count, even when they are there.
    Page page = Vpd(0x83, body);
    page.push_back(0x00);
    EXPECT_FALSE(ParseDeviceIdentificationPage(page).ok());
    body[3] = 0xff;
    EXPECT_FALSE(ParseDeviceIdentificationPage(Vpd(0x83, body)).ok());
}

TEST(ParseDeviceIdentificationPageTest, RefusesTheWrongPageCodeAndBadLengths) {
    Result<std::vector<Designator>> wrong = ParseDeviceIdentificationPage(Vpd(0x80, {}));
    ASSERT_FALSE(wrong.ok());
    ExpectProtocolError(wrong.status(),
                        "target sent a bad device identification page: page code 0x80");

    Page page = DeviceIdentification();
    page.pop_back();
    Result<std::vector<Designator>> short_page = ParseDeviceIdentificationPage(page);
    ASSERT_FALSE(short_page.ok());
    EXPECT_EQ(short_page.status().code(), EPROTO);

    EXPECT_FALSE(ParseDeviceIdentificationPage(Page{0x00, 0x83}).ok());
}

// ---- VPD 0xB0: block limits ----

Page BlockLimitsBody() {
    Page body(0x3c, 0);  // the full SBC-3 page
    Page page = Vpd(0xb0, body);
    PutBe(page, 6, 8, 2);          // optimal transfer length granularity
    PutBe(page, 8, 16384, 4);      // maximum transfer length
    PutBe(page, 12, 1024, 4);      // optimal transfer length
    PutBe(page, 16, 0xdead, 4);    // maximum prefetch length: not ours
    PutBe(page, 20, 0x100000, 4);  // maximum unmap LBA count
    return page;
}

TEST(ParseBlockLimitsPageTest, ReadsTheLimits) {
    Result<BlockLimits> r = ParseBlockLimitsPage(BlockLimitsBody());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->optimal_granularity_blocks, 8u);
    EXPECT_EQ(r->max_transfer_blocks, 16384u);
    EXPECT_EQ(r->optimal_transfer_blocks, 1024u);
    EXPECT_EQ(r->max_unmap_blocks, 0x100000u);
}

TEST(ParseBlockLimitsPageTest, ReadsTheUnmapDescriptorAndWriteSameLimits) {
    Page page = BlockLimitsBody();
    PutBe(page, 24, 64, 4);                // maximum unmap block descriptor count
    PutBe(page, 36, 0x1'0000'0000ull, 8);  // maximum write same length
    Result<BlockLimits> r = ParseBlockLimitsPage(page);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->max_unmap_descriptors, 64u);
    EXPECT_EQ(r->max_write_same_blocks, 0x1'0000'0000ull);
}

TEST(ParseBlockLimitsPageTest, ReadsLargeValuesUnsigned) {
    Page page = BlockLimitsBody();
    PutBe(page, 6, 0xffff, 2);
    PutBe(page, 8, 0xffffffff, 4);
    PutBe(page, 12, 0x80000001, 4);
    Result<BlockLimits> r = ParseBlockLimitsPage(page);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->optimal_granularity_blocks, 0xffffu);
    EXPECT_EQ(r->max_transfer_blocks, 0xffffffffu);
    EXPECT_EQ(r->optimal_transfer_blocks, 0x80000001u);
}

TEST(ParseBlockLimitsPageTest, ShortPageReportsNoLimits) {
    Page page = Vpd(0xb0, Page(8, 0xff));  // too short for the transfer lengths
    Result<BlockLimits> r = ParseBlockLimitsPage(page);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->optimal_granularity_blocks, 0u);
    EXPECT_EQ(r->max_transfer_blocks, 0u);
    EXPECT_EQ(r->optimal_transfer_blocks, 0u);
    EXPECT_EQ(r->max_unmap_blocks, 0u);
}

TEST(ParseBlockLimitsPageTest, PageWithoutUnmapFieldsReadsTransferLengthsOnly) {
    Page page = BlockLimitsBody();
    page.resize(16);
    page[2] = 0;
    page[3] = 12;
    Result<BlockLimits> r = ParseBlockLimitsPage(page);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->max_transfer_blocks, 16384u);
    EXPECT_EQ(r->optimal_transfer_blocks, 1024u);
    EXPECT_EQ(r->max_unmap_blocks, 0u);
}

TEST(ParseBlockLimitsPageTest, RefusesMalformedPages) {
    Result<BlockLimits> wrong = ParseBlockLimitsPage(Vpd(0xb1, Page(0x3c, 0)));
    ASSERT_FALSE(wrong.ok());
    ExpectProtocolError(wrong.status(), "target sent a bad block limits page: page code 0xb1");

    Page page = BlockLimitsBody();
    page.resize(40);
    Result<BlockLimits> truncated = ParseBlockLimitsPage(page);
    ASSERT_FALSE(truncated.ok());
    ExpectProtocolError(truncated.status(),
                        "target sent a bad block limits page: page length runs past the data");

    EXPECT_FALSE(ParseBlockLimitsPage(Page{0x00}).ok());
}

// ---- VPD 0xB2: logical block provisioning ----

TEST(ParseProvisioningPageTest, ReadsWhatTheLunOffers) {
    Page page = Vpd(0xb2, Page{0, 0xc4, 0x02, 0});  // LBPU, LBPWS, LBPRZ; thin
    Result<Provisioning> r = ParseProvisioningPage(page);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->unmap);
    EXPECT_TRUE(r->write_same_unmap);
    EXPECT_TRUE(r->unmapped_zero);
    Result<Provisioning> none = ParseProvisioningPage(Vpd(0xb2, Page{0, 0x20, 0, 0}));
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->unmap);
    EXPECT_FALSE(none->write_same_unmap);  // LBPWS10 alone is WRITE SAME(10), not used
    EXPECT_FALSE(none->unmapped_zero);
}

TEST(ParseProvisioningPageTest, RefusesMalformedPages) {
    EXPECT_EQ(ParseProvisioningPage(Vpd(0xb0, Page{0, 0x80})).status().code(), EPROTO);
    EXPECT_EQ(ParseProvisioningPage(Vpd(0xb2, Page{0})).status().code(), EPROTO);
    EXPECT_FALSE(ParseProvisioningPage(Page{0x00, 0xb2, 0x00}).ok());
}

// ---- READ CAPACITY(16) ----

Page Capacity16(uint64_t last_lba, uint32_t block_size, uint8_t byte14 = 0) {
    Page data(32, 0);
    PutBe(data, 0, last_lba, 8);
    PutBe(data, 8, block_size, 4);
    data[14] = byte14;
    return data;
}

TEST(ParseReadCapacity16Test, BlocksAreLastLbaPlusOne) {
    Result<Capacity> r = ParseReadCapacity16(Capacity16(0x1ffff, 512));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->blocks, 0x20000u);
    EXPECT_EQ(r->block_size, 512u);
    EXPECT_FALSE(r->thin);
    EXPECT_EQ(r->Bytes(), 64u << 20);
}

TEST(ParseReadCapacity16Test, ReadsA4kBlockSizeAndAHighLba) {
    Result<Capacity> r = ParseReadCapacity16(Capacity16(0x0000000123456789, 4096));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->blocks, 0x12345678au);
    EXPECT_EQ(r->block_size, 4096u);
    EXPECT_EQ(r->Bytes(), 0x12345678aull * 4096);
}

TEST(ParseReadCapacity16Test, ReadsTheLbpmeBit) {
    EXPECT_TRUE(ParseReadCapacity16(Capacity16(7, 512, 0x80))->thin);
    EXPECT_TRUE(ParseReadCapacity16(Capacity16(7, 512, 0xc0))->thin);
    EXPECT_FALSE(ParseReadCapacity16(Capacity16(7, 512, 0x40))->thin);  // LBPRZ alone
    EXPECT_FALSE(ParseReadCapacity16(Capacity16(7, 512, 0x3f))->thin);
    EXPECT_TRUE(ParseReadCapacity16(Capacity16(7, 512, 0x40))->unmapped_zero);
    EXPECT_FALSE(ParseReadCapacity16(Capacity16(7, 512, 0x80))->unmapped_zero);
}

TEST(ParseReadCapacity16Test, AcceptsTheExtremeValidValues) {
    Result<Capacity> one_block = ParseReadCapacity16(Capacity16(0, 1u << 20));
    ASSERT_TRUE(one_block.ok());
    EXPECT_EQ(one_block->blocks, 1u);
    EXPECT_EQ(one_block->block_size, 1u << 20);

    // The largest capacity that fits in 64 bits with 4 KiB blocks: 2^64 - 4096 bytes.
    Result<Capacity> largest = ParseReadCapacity16(Capacity16((1ull << 52) - 2, 4096));
    ASSERT_TRUE(largest.ok());
    EXPECT_EQ(largest->Bytes(), UINT64_MAX - 4095);
}

TEST(ParseReadCapacity16Test, RefusesBadBlockSizes) {
    for (uint32_t size : {0u, 1u, 256u, 513u, 520u, 1000u, 3u << 10, 2u << 20, 0x80000000u}) {
        SCOPED_TRACE(size);
        Result<Capacity> r = ParseReadCapacity16(Capacity16(100, size));
        ASSERT_FALSE(r.ok());
        ExpectProtocolError(r.status(), "target sent a bad READ CAPACITY(16) answer: block size " +
                                            std::to_string(size));
    }
}

TEST(ParseReadCapacity16Test, RefusesACapacityThatOverflows) {
    for (const auto& [last_lba, size] :
         std::vector<std::pair<uint64_t, uint32_t>>{{UINT64_MAX, 512},
                                                    {UINT64_MAX - 1, 512},
                                                    {(1ull << 52) - 1, 4096},
                                                    {1ull << 55, 512}}) {
        SCOPED_TRACE(last_lba);
        Result<Capacity> r = ParseReadCapacity16(Capacity16(last_lba, size));
        ASSERT_FALSE(r.ok());
        ExpectProtocolError(
            r.status(), "target sent a bad READ CAPACITY(16) answer: capacity overflows 64 bits");
    }
}

TEST(ParseReadCapacity16Test, RefusesAShortAnswer) {
    Page data = Capacity16(100, 512);
    data.resize(31);
    Result<Capacity> r = ParseReadCapacity16(data);
    ASSERT_FALSE(r.ok());
    ExpectProtocolError(r.status(),
                        "target sent a bad READ CAPACITY(16) answer: shorter than 32 bytes");
    EXPECT_FALSE(ParseReadCapacity16({}).ok());
}

// Every prefix of every good page parses or fails cleanly; run under ASan this catches reads
// past the end.
TEST(ScsiPagesTest, TruncatedPagesNeverCrash) {
    const std::vector<Page> pages = {Inquiry(0), Vpd(0x80, Text("serial")), DeviceIdentification(),
                                     BlockLimitsBody(), Capacity16(5, 512)};
    for (const Page& page : pages) {
        for (size_t n = 0; n <= page.size(); ++n) {
            Bytes prefix(page.data(), n);
            (void)ParseStandardInquiry(prefix);
            (void)ParseUnitSerialPage(prefix);
            (void)ParseDeviceIdentificationPage(prefix);
            (void)ParseBlockLimitsPage(prefix);
            (void)ParseReadCapacity16(prefix);
        }
    }
    EXPECT_FALSE(ParseDeviceIdentificationPage(Bytes(DeviceIdentification().data(), 10)).ok());
}

// ---- LunIdentity ----

Designator Make(uint8_t association, uint8_t type, Page value) {
    Designator d;
    d.code_set = type == 1 || type == 8 ? 2 : 1;
    d.association = association;
    d.type = type;
    d.value = std::move(value);
    return d;
}

TEST(LunIdentityTest, JoinsLunDesignatorsNaaThenEuiThenNameThenT10) {
    const std::vector<Designator> ds = {
        Make(0, 1, Text("LIO-ORG disk1")),
        Make(0, 8, Text("iqn.x")),
        Make(0, 2, Page{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77}),
        Make(0, 3, Page{0x60, 0x01}),
    };
    EXPECT_EQ(LunIdentity(ds, "serial1"),
              "naa.6001,eui.0011223344556677,name.iqn.x,t10.LIO-ORG disk1");
}

TEST(LunIdentityTest, KeepsPageOrderWithinOneType) {
    const std::vector<Designator> ds = {Make(0, 3, Page{0x02}), Make(0, 3, Page{0x01})};
    EXPECT_EQ(LunIdentity(ds, ""), "naa.02,naa.01");
}

TEST(LunIdentityTest, SkipsPortAndDeviceDesignators) {
    const std::vector<Designator> ds = {
        Make(1, 3, Page{0xaa}),        // target port
        Make(2, 8, Text("iqn.tgt")),   // target device
        Make(1, 4, Page{0, 0, 0, 1}),  // relative target port
        Make(0, 1, Text("LIO-ORG d")),
    };
    EXPECT_EQ(LunIdentity(ds, ""), "t10.LIO-ORG d");
}

TEST(LunIdentityTest, SkipsEmptyAndUnrankedDesignators) {
    const std::vector<Designator> ds = {
        Make(0, 3, {}),
        Make(0, 6, Page{0x12, 0x34}),  // MD5 logical unit identifier
        Make(0, 2, Page{0xab}),
    };
    EXPECT_EQ(LunIdentity(ds, ""), "eui.ab");
}

TEST(LunIdentityTest, FallsBackToTheSerialNumber) {
    EXPECT_EQ(LunIdentity({Make(1, 3, Page{0xaa})}, "beaf1123"), "serial:beaf1123");
    EXPECT_EQ(LunIdentity({}, "beaf1123"), "serial:beaf1123");
}

TEST(LunIdentityTest, EmptyWhenNothingIdentifiesTheLun) {
    EXPECT_EQ(LunIdentity({Make(1, 3, Page{0xaa})}, ""), "");
    EXPECT_EQ(LunIdentity({}, ""), "");
}

TEST(LunIdentityTest, ParsedPageGivesTheLunIdentity) {
    Result<std::vector<Designator>> r = ParseDeviceIdentificationPage(DeviceIdentification());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(LunIdentity(r.value(), "ignored"),
              "naa.6001405f3e2d1c0b0011223344556677,t10.LIO-ORG disk1");
}

}  // namespace
}  // namespace lunfs
