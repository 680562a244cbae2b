#include "tools/cli_errors.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <vector>

#include "tools/exit_codes.h"
#include "tools/user_input.h"

namespace lunfs {

namespace {

// The subcommands a user may type (hidden ones, such as man, are left out of suggestions).
std::vector<std::string> CommandNames(CLI::App& app) {
    std::vector<std::string> out;
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
        if (!sub->get_group().empty()) out.push_back(sub->get_name());
    }
    return out;
}

std::string CommandList(CLI::App& app) {
    const std::vector<std::string> names = CommandNames(app);
    std::string out;
    for (size_t i = 0; i < names.size(); ++i) {
        out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
    }
    return out;
}

// The subcommand argv names, or nullptr.
CLI::App* CommandOf(CLI::App& app, int argc, char** argv) {
    if (argc < 2) return nullptr;
    for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
        if (sub->check_name(argv[1])) return sub;
    }
    return nullptr;
}

std::vector<std::string> OptionNames(const CLI::App& app) {
    std::vector<std::string> out;
    for (const CLI::Option* o : app.get_options()) {
        for (const std::string& n : o->get_lnames()) out.push_back("--" + n);
        for (const std::string& n : o->get_snames()) out.push_back("-" + n);
    }
    return out;
}

// "The following argument(s) was/were not expected: a b" -> {a, b}
std::vector<std::string> Extras(const std::string& what) {
    std::vector<std::string> out;
    const size_t colon = what.find(": ");
    std::string rest = colon == std::string::npos ? what : what.substr(colon + 2);
    size_t start = 0;
    while (start < rest.size()) {
        const size_t space = rest.find(' ', start);
        out.push_back(rest.substr(start, space - start));
        if (space == std::string::npos) break;
        start = space + 1;
    }
    return out;
}

std::string ExtrasMessage(CLI::App& command, const std::string& who, const std::string& what) {
    const std::vector<std::string> extras = Extras(what);
    for (const std::string& arg : extras) {
        if (!arg.starts_with("-") || arg == "-") continue;
        const std::string key = arg.substr(0, arg.find('='));
        const std::string help = fmt::format(" (see {} --help)", who);
        return fmt::format("unknown option '{}' for {}{}", key, who,
                           DidYouMean(key, OptionNames(command), help));
    }
    const std::string first = extras.empty() ? what : extras.front();
    return fmt::format("unexpected argument '{}' for {} (see {} --help)", first, who, who);
}

}  // namespace

Status CheckCommandWord(CLI::App& app, int argc, char** argv) {
    if (argc < 2) {
        return Status::Fail(EINVAL,
                            fmt::format("give a command: {} (see lunfs --help)", CommandList(app)));
    }
    const std::string word = argv[1];
    if (word.starts_with("-") || CommandOf(app, argc, argv)) return Status::Ok();
    return Status::Fail(
        EINVAL,
        fmt::format("unknown command '{}'{}", word,
                    DidYouMean(word, CommandNames(app),
                               fmt::format(" (use {}; see lunfs --help)", CommandList(app)))));
}

std::string ParseErrorMessage(CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return "";
    CLI::App* sub = CommandOf(app, argc, argv);
    CLI::App& command = sub ? *sub : app;
    const std::string who = sub ? "lunfs " + sub->get_name() : "lunfs";
    const std::string what = e.what();
    if (dynamic_cast<const CLI::ExtrasError*>(&e)) return ExtrasMessage(command, who, what);
    if (what == "A subcommand is required") {
        return fmt::format("give a command: {} (see lunfs --help)", CommandList(app));
    }
    if (const size_t at = what.find(" is required"); at != std::string::npos) {
        std::string name = what.substr(0, at);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        return fmt::format("{} needs {} (see {} --help)", who, name, who);
    }
    if (what.find("(did you mean") != std::string::npos) return what;
    return fmt::format("{} (see {} --help)", what, who);
}

int ReportParseError(CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
    const std::string message = ParseErrorMessage(app, e, argc, argv);
    if (message.empty()) return app.exit(e);
    std::fprintf(stderr, "lunfs: %s\n", message.c_str());
    return kExitBadInput;
}

CLI::Validator Between(double min, double max, bool whole) {
    return CLI::Validator(
        [=](std::string& text) -> std::string {
            double value = 0;
            const char* end = text.data() + text.size();
            auto [ptr, ec] = std::from_chars(text.data(), end, value);
            const bool ok = !text.empty() && ec == std::errc() && ptr == end &&
                            std::isfinite(value) && value >= min && value <= max &&
                            (!whole || std::floor(value) == value);
            if (ok) return "";
            return fmt::format("must be a {} from {} to {}, not '{}'",
                               whole ? "whole number" : "number", min, max, text);
        },
        "");
}

CLI::Validator OneOf(std::initializer_list<std::string> words) {
    std::vector<std::string> list(words);
    return CLI::Validator(
        [list](std::string& text) -> std::string {
            if (std::find(list.begin(), list.end(), text) != list.end()) return "";
            std::string names;
            for (size_t i = 0; i < list.size(); ++i) {
                names += (i == 0 ? "" : i + 1 == list.size() ? " or " : ", ") + list[i];
            }
            return fmt::format("must be {}, not '{}'{}", names, text, DidYouMean(text, list));
        },
        "");
}

}  // namespace lunfs
