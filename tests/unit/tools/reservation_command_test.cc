#include "tools/reservation_command.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace lunfs {
namespace {
namespace reservation_command {  // apart from other tests' helpers in a unity build

using Verb = ReservationRequest::Verb;

Result<ReservationRequest> Parse(std::vector<std::string> words) {
    return ParseReservationRequest(words);
}

std::string Error(std::vector<std::string> words) {
    Result<ReservationRequest> r = Parse(std::move(words));
    if (r.ok()) return "(parsed)";
    EXPECT_EQ(r.status().code(), EINVAL);
    return r.status().message();
}

TEST(ReservationRequestTest, EveryVerbWithItsArguments) {
    Result<ReservationRequest> r = Parse({"register", "0xabc"});
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->verb, Verb::kRegister);
    EXPECT_EQ(r->key, 0xabcu);

    r = Parse({"register", "0"});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->verb, Verb::kRegister);
    EXPECT_EQ(r->key, 0u) << "register 0 unregisters";
    r = Parse({"unregister"});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->verb, Verb::kRegister);
    EXPECT_EQ(r->key, 0u);

    r = Parse({"reserve", "write-exclusive-registrants-only"});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->verb, Verb::kReserve);
    EXPECT_EQ(r->type, 5);
    r = Parse({"release", "7"});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->verb, Verb::kRelease);
    EXPECT_EQ(r->type, 7);
    r = Parse({"release", "1"});
    ASSERT_TRUE(r.ok()) << "any type can be released";
    r = Parse({"preempt", "def", "exclusive-access-all-registrants"});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->verb, Verb::kPreempt);
    EXPECT_EQ(r->key, 0xdefu);
    EXPECT_EQ(r->type, 8);
    EXPECT_EQ(Parse({"clear"})->verb, Verb::kClear);
    EXPECT_EQ(Parse({"show"})->verb, Verb::kShow);
}

TEST(ReservationRequestTest, BadInputIsOneLine) {
    EXPECT_NE(Error({}).find("a reservation command is needed"), std::string::npos);
    EXPECT_NE(Error({"reserv", "5"}).find("unknown reservation command 'reserv'"),
              std::string::npos);
    EXPECT_NE(Error({"register"}).find("usage: reservation MOUNTPOINT register KEY"),
              std::string::npos);
    EXPECT_NE(Error({"register", "0xabc", "5"}).find("usage"), std::string::npos);
    EXPECT_NE(Error({"register", "zz"}).find("'zz' is not a reservation key"), std::string::npos);
    EXPECT_NE(Error({"reserve", "4"}).find("unknown reservation type '4'"), std::string::npos);
    EXPECT_NE(Error({"preempt", "0", "5"}).find("not 0"), std::string::npos);
    EXPECT_NE(Error({"preempt", "0xabc"}).find("preempt KEY TYPE"), std::string::npos);
    EXPECT_NE(Error({"show", "all"}).find("usage"), std::string::npos);
    EXPECT_NE(Error({"clear", "now"}).find("usage"), std::string::npos);
    EXPECT_NE(Error({"unregister", "0xabc"}).find("usage"), std::string::npos);
    for (const std::string& message : {Error({"reserve", "a"}), Error({"register", "-"})}) {
        EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
}

TEST(ReservationRequestTest, ReserveAndPreemptRefuseTheTypesOnlyOnePathMayUse) {
    EXPECT_NE(Error({"reserve", "1"}).find("type 1 (write-exclusive) lets only the one path"),
              std::string::npos);
    EXPECT_NE(Error({"reserve", "exclusive-access"}).find("read or write"), std::string::npos);
    EXPECT_NE(Error({"preempt", "0xabc", "3"}).find("registrants type"), std::string::npos);
}

TEST(ReservationRequestTest, FormatsWhatItParsesBack) {
    for (std::vector<std::string> words :
         std::vector<std::vector<std::string>>{{"register", "abc"},
                                               {"unregister"},
                                               {"reserve", "6"},
                                               {"release", "write-exclusive"},
                                               {"preempt", "0x1", "5"},
                                               {"clear"},
                                               {"show"}}) {
        Result<ReservationRequest> r = Parse(words);
        ASSERT_TRUE(r.ok()) << words[0];
        const std::string text = FormatReservationRequest(r.value());
        std::vector<std::string> again;
        for (size_t at = 0; at <= text.size();) {
            const size_t space = std::min(text.find(' ', at), text.size());
            again.push_back(text.substr(at, space - at));
            at = space + 1;
        }
        Result<ReservationRequest> back = Parse(again);
        ASSERT_TRUE(back.ok()) << text;
        EXPECT_EQ(back->verb, r->verb) << text;
        EXPECT_EQ(back->key, r->key) << text;
        EXPECT_EQ(back->type, r->type) << text;
    }
    EXPECT_EQ(FormatReservationRequest(Parse({"register", "abc"}).value()),
              "register 0x0000000000000abc");
}

TEST(ReservationControlTest, NoSuchLunIsBadInputAndTheAnswerSaysSo) {
    std::string answer;
    Status s = RunReservationControl("lun9 show", {}, answer);
    EXPECT_EQ(s.code(), ENOENT);
    EXPECT_EQ(answer, "no LUN file 'lun9' in the mount\n");
    s = RunReservationControl("- show", {}, answer);
    EXPECT_EQ(s.code(), ENOENT);
    EXPECT_NE(answer.find("name one with --lun FILE"), std::string::npos);
    s = RunReservationControl("- frobnicate", {}, answer);
    EXPECT_EQ(s.code(), EINVAL);
    EXPECT_NE(answer.find("unknown reservation command"), std::string::npos);
}

}  // namespace reservation_command
}  // namespace
}  // namespace lunfs
