#include "tools/admin_commands.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/status.h"
#include "tools/status_view.h"

namespace lunfs {

namespace {

volatile sig_atomic_t g_quit = 0;

bool ReadControl(const std::string& mountpoint, const char* name, std::string& out) {
    std::ifstream in(mountpoint + "/.lunfs/" + name);
    if (!in) return false;
    std::stringstream s;
    s << in.rdbuf();
    out = s.str();
    return true;
}

// The terminal while --watch runs: alternate screen, hidden cursor, keys without Enter; all
// restored by the destructor.
class WatchTerminal {
  public:
    WatchTerminal() {
        tty_out_ = isatty(STDOUT_FILENO) == 1;
        if (isatty(STDIN_FILENO) == 1 && tcgetattr(STDIN_FILENO, &saved_) == 0) {
            termios raw = saved_;
            raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
            raw.c_cc[VMIN] = 0;
            raw.c_cc[VTIME] = 0;
            raw_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
        }
        if (tty_out_) Write("\x1b[?1049h\x1b[?25l");
    }
    ~WatchTerminal() {
        if (tty_out_) Write("\x1b[?25h\x1b[?1049l");
        if (raw_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }
    int Width() const {
        winsize ws{};
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
        return 100;
    }
    void Draw(const std::vector<std::string>& lines) {
        std::string frame = tty_out_ ? "\x1b[H" : "";
        for (const std::string& l : lines) frame += l + (tty_out_ ? "\x1b[K\n" : "\n");
        if (tty_out_) frame += "\x1b[J";
        Write(frame);
    }
    // Waits up to `seconds` for a key; true when it was q (or Ctrl-C arrived).
    bool WaitForQuit(double seconds) {
        pollfd fd{STDIN_FILENO, POLLIN, 0};
        const auto until =
            std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        while (!g_quit) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                until - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            if (poll(&fd, raw_ ? 1 : 0, static_cast<int>(left.count())) > 0) {
                char c = 0;
                if (read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q')) return true;
                if (!raw_) std::this_thread::sleep_for(left);
            }
        }
        return true;
    }

  private:
    static void Write(const std::string& s) {
        [[maybe_unused]] ssize_t n = write(STDOUT_FILENO, s.data(), s.size());
    }
    bool tty_out_ = false;
    bool raw_ = false;
    termios saved_{};
};

bool Utf8Locale() {
    for (const char* var : {"LC_ALL", "LC_CTYPE", "LANG"}) {
        const char* v = std::getenv(var);
        if (v && *v) {
            const std::string s = v;
            return s.find("UTF-8") != std::string::npos || s.find("utf8") != std::string::npos;
        }
    }
    return false;
}

Result<nlohmann::json> ReadStats(const std::string& mountpoint) {
    std::string text;
    if (!ReadControl(mountpoint, "stats", text)) {
        return Status::Fail(ENOENT, fmt::format("{} is not a lunfs mount", mountpoint));
    }
    nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded()) {
        return Status::Fail(EPROTO, fmt::format("{}/.lunfs/stats is not valid JSON", mountpoint));
    }
    return doc;
}

int Watch(const StatusCommandOptions& o) {
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_quit = 1; };
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    WatchTerminal term;
    WatchStyle style;
    style.utf8 = Utf8Locale();
    for (int frame = 1;; ++frame) {
        Result<nlohmann::json> doc = ReadStats(o.mountpoint);
        if (!doc.ok()) {
            term.Draw({"lunfs: " + doc.status().message()});
            return 1;
        }
        style.width = term.Width();
        term.Draw(RenderWatchFrame(doc.value(), o.mountpoint, style));
        if (o.count > 0 && frame >= o.count) return 0;
        if (term.WaitForQuit(o.interval_s)) return 0;
    }
}

}  // namespace

int RunStatus(const StatusCommandOptions& o) {
    if (o.watch) return Watch(o);
    std::string text;
    if (!ReadControl(o.mountpoint, "stats", text)) {
        std::fprintf(stderr, "lunfs: %s is not a lunfs mount\n", o.mountpoint.c_str());
        return 1;
    }
    if (o.json) {
        std::fputs(text.c_str(), stdout);
        return 0;
    }
    const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    const std::string table = doc.is_discarded() ? "" : RenderStatusTable(doc);
    if (table.empty()) {
        std::fprintf(stderr, "lunfs: %s/.lunfs/stats is not valid\n", o.mountpoint.c_str());
        return 1;
    }
    std::fputs(table.c_str(), stdout);
    return 0;
}

int RunPathCommand(const std::string& verb, const std::string& mountpoint, const std::string& file,
                   const std::string& url) {
    const std::string control = mountpoint + "/.lunfs/paths";
    const int fd = open(control.c_str(), O_WRONLY);
    if (fd < 0) {
        std::fprintf(stderr, "lunfs: %s is not a lunfs mount (%s)\n", mountpoint.c_str(),
                     std::strerror(errno));
        return 1;
    }
    const std::string command = fmt::format("{} {} {}\n", verb, file, url);
    const ssize_t n = write(fd, command.data(), command.size());
    const int err = errno;
    close(fd);
    if (n == static_cast<ssize_t>(command.size())) return 0;
    std::string why;
    if (!ReadControl(mountpoint, "paths", why) || why.empty()) why = std::strerror(err);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    std::fprintf(stderr, "lunfs: path %s failed: %s\n", verb.c_str(), why.c_str());
    return 1;
}

}  // namespace lunfs
