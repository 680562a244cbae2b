#include "tools/cli.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <map>

#include "tools/admin_commands.h"
#include "tools/cli_errors.h"
#include "tools/copy_command.h"
#include "tools/discover_command.h"
#include "tools/exit_codes.h"
#include "tools/man_page.h"
#include "tools/mount_command.h"
#include "tools/mount_config.h"
#include "tools/reservation_command.h"
#include "tools/unmount_command.h"
#include "tools/user_input.h"

namespace lunfs {

namespace {

const std::map<std::string, std::vector<Example>>& AllExamples() {
    static const std::map<std::string, std::vector<Example>> examples = {
        {"discover",
         {{"lunfs discover iscsi://192.0.2.10", "targets, LUNs and paths behind a portal"},
          {"lunfs discover --json iscsi://192.0.2.10:3260 iscsi://192.0.2.11:3260",
           "two portals, as JSON"}}},
        {"mount",
         {{"lunfs mount /mnt/san iscsi://192.0.2.10/iqn.2026-01.com.example:store/1 "
           "iscsi://192.0.2.11/iqn.2026-01.com.example:store/1",
           "one LUN over two paths: /mnt/san/lun1"},
          {"lunfs mount --name vm1 --policy failover /mnt/san "
           "iscsi://192.0.2.10/iqn.2026-01.com.example:store/1",
           "name the file, one path at a time"},
          {"lunfs mount -c /etc/lunfs/san.toml /mnt/san", "the LUNs of a config file"}}},
        {"status",
         {{"lunfs status /mnt/san", "each LUN and path: state, throughput, latency, errors"},
          {"lunfs status --json /mnt/san", "the same as JSON"},
          {"lunfs status --watch /mnt/san", "redraw every second, with throughput bars"}}},
        {"copy",
         {{"lunfs copy disk.img /mnt/san/lun1", "load an image onto a LUN"},
          {"lunfs copy /mnt/san/lun1 backup.img", "and back"}}},
        {"path",
         {{"lunfs path add /mnt/san lun1 iscsi://192.0.2.12/iqn.2026-01.com.example:store/1",
           "a third path, while mounted"},
          {"lunfs path remove /mnt/san lun1 iscsi://192.0.2.12/iqn.2026-01.com.example:store/1",
           ""}}},
        {"reservation",
         {{"lunfs reservation /mnt/san register 0x123abc",
           "this host's cluster key on every path of the LUN, now and at every login"},
          {"lunfs reservation /mnt/san reserve write-exclusive-registrants-only",
           "reserve with it (type 5)"},
          {"lunfs reservation /mnt/san show", "the keys and the reservation the target reports"},
          {"lunfs reservation /mnt/san --lun vm1 preempt 0x456def 5",
           "take a failed node's registrations and reservation"}}},
        {"unmount", {{"lunfs unmount /mnt/san", "unmount and wait for the daemon to log out"}}},
    };
    return examples;
}

std::string Footer(const std::string& subcommand, const std::string& extra = "") {
    std::string out = extra.empty() ? "" : extra + "\n\n";
    out += "Examples:\n";
    for (const Example& e : ExamplesOf(subcommand)) {
        out += fmt::format("  {}\n", e.command);
        if (!e.comment.empty()) out += fmt::format("      {}\n", e.comment);
    }
    return out;
}

constexpr const char* kDescription =
    "lunfs mounts iSCSI LUNs as plain files through FUSE, talking iSCSI itself (no kernel "
    "initiator), and drives every request over all paths of a LUN at once.";

constexpr const char* kMountExtra =
    "A URL is iscsi://[user@]host[:port]/target-iqn/lun. URLs that reach one LUN (same VPD 0x83 "
    "identity) become the paths of one file; URLs that cannot be reached while another of "
    "their LUN can are retried in the background (see --wait for when none can). Options can "
    "also come from a config file (-c) and, "
    "through mount.fuse3 (mount -t fuse.lunfs, /etc/fstab), as -o key=value with the same names.";

void AddMount(CLI::App& app, std::function<int()>& run) {
    CLI::App* m = app.add_subcommand("mount", "Mount LUNs on a directory, one file per LUN");
    m->footer(Footer("mount", kMountExtra));
    auto request = std::make_shared<MountRequest>();
    auto names = std::make_shared<std::vector<std::string>>();
    auto values = std::make_shared<std::map<std::string, std::string>>();
    auto flags = std::make_shared<std::map<std::string, bool>>();
    auto given = std::make_shared<std::vector<std::pair<const MountOption*, CLI::Option*>>>();
    m->add_option("mountpoint", request->mountpoint, "Directory to mount on")->type_name("DIR");
    m->add_option("url", request->urls, "iscsi://[user@]host[:port]/target-iqn/lun of a path")
        ->type_name("URL");
    m->add_option("-c,--config", request->config, "Config file (TOML) with the LUNs to mount")
        ->type_name("FILE");
    const MountSettings defaults;
    for (const MountOption& o : AllMountOptions()) {
        std::string flag = std::string(o.short_flag);
        flag += (flag.empty() ? "--" : ",--") + std::string(o.key);
        CLI::Option* opt;
        if (o.is_flag()) {
            opt = m->add_flag(flag, (*flags)[std::string(o.key)], std::string(o.help));
        } else if (o.key == "name") {
            opt = m->add_option(flag, *names, std::string(o.help))->allow_extra_args(false);
        } else {
            opt = m->add_option(flag, (*values)[std::string(o.key)], std::string(o.help));
            const std::string shown = OptionText(o, defaults);
            if (!shown.empty()) opt->default_str(shown);
        }
        if (!o.value_name.empty()) opt->type_name(std::string(o.value_name));
        given->emplace_back(&o, opt);
    }
    m->callback([=, &run] {
        // The parser writes flags into *flags: the callback holds it as long as the parser.
        (void)flags;
        for (const auto& [o, opt] : *given) {
            if (opt->count() == 0) continue;
            const std::string origin = fmt::format("--{}", o->key);
            if (o->key == "name") {
                for (const std::string& n : *names) request->options.push_back({o, n, origin});
            } else if (o->is_flag()) {
                request->options.push_back({o, true, origin});
            } else {
                request->options.push_back({o, values->at(std::string(o->key)), origin});
            }
        }
        run = [request] {
            Result<MountSettings> settings = ResolveMountSettings(*request);
            if (!settings.ok()) {
                std::fprintf(stderr, "lunfs: %s\n", settings.status().message().c_str());
                return kExitBadInput;
            }
            return RunMount(settings.value());
        };
    });
}

void AddUnmount(CLI::App& app, std::function<int()>& run) {
    auto point = std::make_shared<std::string>();
    auto timeout = std::make_shared<int>(60);
    CLI::App* u = app.add_subcommand("unmount", "Unmount and wait for the daemon to finish");
    u->alias("umount");
    u->footer(Footer("unmount", "Works for the non-root owner of a mount too (fusermount3 -u)."));
    u->add_option("mountpoint", *point, "Directory a lunfs mount is on")
        ->required()
        ->type_name("DIR");
    u->add_option("--timeout", *timeout, "Seconds to wait for the daemon")
        ->capture_default_str()
        ->type_name("S")
        ->check(Between(1, 3600));
    u->callback([=, &run] { run = [=] { return RunUnmount(*point, *timeout); }; });
}

void AddStatus(CLI::App& app, std::function<int()>& run) {
    auto o = std::make_shared<StatusCommandOptions>();
    CLI::App* st = app.add_subcommand("status", "Show each LUN and its paths");
    st->footer(Footer("status",
                      "Throughput is measured by the daemon over the last second. --watch draws "
                      "with plain ANSI escapes (fine over ssh); q or Ctrl-C quits."));
    st->add_option("mountpoint", o->mountpoint, "Directory a lunfs mount is on")
        ->required()
        ->type_name("DIR");
    st->add_flag("--json", o->json, "Print JSON (as in MOUNTPOINT/.lunfs/stats)");
    st->add_flag("-w,--watch", o->watch, "Redraw live, with per-path throughput bars");
    st->add_option("--interval", o->interval_s, "Seconds between redraws with --watch")
        ->capture_default_str()
        ->type_name("S")
        ->check(Between(0.2, 3600, false));
    st->add_option("--count", o->count, "Redraws before --watch exits (0: until q)")
        ->capture_default_str()
        ->type_name("N")
        ->check(Between(0, 1e9));
    st->callback([=, &run] { run = [=] { return RunStatus(*o); }; });
}

void AddPath(CLI::App& app, std::function<int()>& run) {
    auto args = std::make_shared<std::array<std::string, 4>>();
    CLI::App* pc = app.add_subcommand("path", "Add or remove a path of a mounted LUN");
    pc->footer(Footer("path"));
    pc->add_option("verb", (*args)[0], "add or remove")
        ->required()
        ->type_name("add|remove")
        ->check(OneOf({"add", "remove"}));
    pc->add_option("mountpoint", (*args)[1], "Directory a lunfs mount is on")
        ->required()
        ->type_name("DIR");
    pc->add_option("file", (*args)[2], "The LUN's file name in the mount (e.g. lun1)")
        ->required()
        ->type_name("FILE");
    pc->add_option("url", (*args)[3], "iscsi://host[:port]/target-iqn/lun of the path")
        ->required()
        ->type_name("URL");
    pc->callback([=, &run] {
        run = [=] { return RunPathCommand((*args)[0], (*args)[1], (*args)[2], (*args)[3]); };
    });
}

constexpr const char* kReservationExtra =
    "COMMAND is one of: register KEY (hex; 0 or `unregister` removes it), unregister, reserve "
    "TYPE, release TYPE, preempt KEY TYPE, clear, show. TYPE is 5, 6, 7, 8 or its name "
    "(write-exclusive-registrants-only, exclusive-access-registrants-only, "
    "write-exclusive-all-registrants, exclusive-access-all-registrants); release also takes 1 "
    "and 3. The key is registered on every path of the LUN and on every later login of a path; "
    "lunfs's own reservation fence gives way to it (the fence becomes timed). Unmounting "
    "removes the key from the LUN's paths.";

void AddReservation(CLI::App& app, std::function<int()>& run) {
    auto point = std::make_shared<std::string>();
    auto lun = std::make_shared<std::string>();
    auto words = std::make_shared<std::vector<std::string>>();
    CLI::App* r = app.add_subcommand(
        "reservation", "Register this host's cluster key on every path and reserve with it");
    r->footer(Footer("reservation", kReservationExtra));
    r->add_option("mountpoint", *point, "Directory a lunfs mount is on")
        ->required()
        ->type_name("DIR");
    r->add_option("command", *words,
                  "register KEY | unregister | reserve TYPE | release TYPE | "
                  "preempt KEY TYPE | clear | show")
        ->required()
        ->type_name("COMMAND");
    r->add_option("--lun", *lun, "The LUN's file name in the mount; needed when it has several")
        ->type_name("FILE");
    r->callback([=, &run] { run = [=] { return RunReservationCommand(*point, *lun, *words); }; });
}

void AddDiscover(CLI::App& app, std::function<int()>& run) {
    auto o = std::make_shared<DiscoverCommandOptions>();
    CLI::App* d = app.add_subcommand(
        "discover", "List the targets, LUNs and paths a portal offers (SendTargets discovery)");
    d->footer(Footer("discover",
                     "Logs in to every portal of every target found, reads each LUN (REPORT "
                     "LUNS, INQUIRY, VPD 0x83, READ CAPACITY) and groups the portals that reach "
                     "one LUN as its paths. Some targets (tgtd among them) name only the portal "
                     "that was asked: give every portal to see every path."));
    d->add_option("portal", o->portals, "iscsi://[user@]host[:port] of a portal (or several)")
        ->required()
        ->type_name("PORTAL");
    d->add_flag("--json", o->json, "Print JSON");
    d->add_option("--chap-secret-file", o->chap_secret_file,
                  "CHAP secret of the portal URL's user (mode 0600); else $LUNFS_CHAP_SECRET")
        ->type_name("FILE");
    d->add_option("--initiator-name", o->initiator_name, "Our iSCSI initiator name")
        ->capture_default_str()
        ->type_name("IQN");
    d->add_option("--timeout", o->timeout_s, "Seconds for each connection, login and command")
        ->capture_default_str()
        ->type_name("S")
        ->check(Between(1, 600));
    d->callback([=, &run] { run = [=] { return RunDiscover(*o); }; });
}

void AddCopy(CLI::App& app, std::function<int()>& run) {
    auto o = std::make_shared<CopyCommandOptions>();
    CLI::App* c = app.add_subcommand(
        "copy", "Copy an image into or out of a LUN file, or LUN to LUN, with progress");
    c->footer(Footer("copy",
                     "Several requests stay in flight at once (--jobs), so a LUN mounted over "
                     "several paths is read or written over all of them. A LUN destination keeps "
                     "its size: the image goes over its start."));
    c->add_option("source", o->source, "Image file or LUN file to read")
        ->required()
        ->type_name("FILE");
    c->add_option("destination", o->destination, "File or LUN file to write")
        ->required()
        ->type_name("FILE");
    c->add_option("--jobs", o->jobs, "Requests in flight")
        ->capture_default_str()
        ->type_name("N")
        ->check(Between(1, 64));
    c->add_option("--block-size", o->block_kib, "Bytes per request, in KiB")
        ->capture_default_str()
        ->type_name("KIB")
        ->check(Between(4, 65536));
    c->add_option("--progress", o->progress,
                  "auto (a bar on a terminal), bar, lines (one line a second), none")
        ->capture_default_str()
        ->type_name("MODE")
        ->check(OneOf({"auto", "bar", "lines", "none"}));
    c->callback([=, &run] { run = [=] { return RunCopy(*o); }; });
}

}  // namespace

const std::vector<Example>& ExamplesOf(const std::string& subcommand) {
    static const std::vector<Example> none;
    const auto it = AllExamples().find(subcommand);
    return it == AllExamples().end() ? none : it->second;
}

std::unique_ptr<CLI::App> BuildCli(std::function<int()>& run) {
    auto app = std::make_unique<CLI::App>(kDescription, "lunfs");
    app->require_subcommand(1);
    app->set_version_flag("--version", "lunfs 0.1.0");
    AddDiscover(*app, run);
    AddMount(*app, run);
    AddStatus(*app, run);
    AddCopy(*app, run);
    AddPath(*app, run);
    AddReservation(*app, run);
    AddUnmount(*app, run);
    CLI::App* man = app->add_subcommand("man", "Print the manual page (roff)");
    man->group("");  // hidden: for building the man page
    CLI::App* root = app.get();
    man->callback([root, &run] {
        run = [root] {
            std::fputs(RenderManPage(*root).c_str(), stdout);
            return 0;
        };
    });
    return app;
}

namespace {

// mount.fuse3 passes SOURCE first: URLs, a config file, or anything with -o config=FILE.
bool LooksLikeMountSource(int argc, char** argv) {
    const std::string source = argv[1];
    struct stat st;
    if (source.find('/') != std::string::npos || source.find(':') != std::string::npos ||
        (stat(source.c_str(), &st) == 0 && S_ISREG(st.st_mode))) {
        return true;
    }
    for (int i = 3; i < argc; ++i) {
        const std::string arg = argv[i];
        const std::string next = i + 1 < argc ? argv[i + 1] : "";
        if (arg.starts_with("-o") &&
            (arg + (arg == "-o" ? next : "")).find("config=") != std::string::npos) {
            return true;
        }
    }
    return false;
}

}  // namespace

bool IsMountHelperCall(int argc, char** argv) {
    if (argc < 3 || argv[1][0] == '-') return false;
    const std::string first = argv[1];
    for (const char* known : {"discover", "mount", "status", "copy", "path", "reservation",
                              "unmount", "umount", "man", "help"}) {
        if (first == known) return false;
    }
    // Anything else is a mistyped command ("lunfs mout /mnt URL"), which the parser reports.
    return LooksLikeMountSource(argc, argv);
}

int RunMountHelper(int argc, char** argv) {
    const std::string source = argv[1];
    MountRequest request;
    request.mountpoint = argv[2];
    std::string config;
    for (int i = 3; i < argc; ++i) {
        const std::string arg = argv[i];
        std::string text;
        if (arg == "-o" && i + 1 < argc) {
            text = argv[++i];
        } else if (arg.starts_with("-o")) {
            text = arg.substr(2);
        } else {
            std::fprintf(stderr,
                         "lunfs: unexpected argument '%s' (as a mount helper: lunfs "
                         "SOURCE MOUNTPOINT -o OPTIONS)\n",
                         arg.c_str());
            return kExitBadInput;
        }
        if (Status s = ParseFuseOptions(text, request.options, config); !s.ok()) {
            std::fprintf(stderr, "lunfs: %s\n", s.message().c_str());
            return kExitBadInput;
        }
    }
    struct stat st;
    if (Status s = CheckIscsiScheme(source, "/target-iqn/lun"); !s.ok()) {
        std::fprintf(stderr, "lunfs: %s\n", s.message().c_str());
        return kExitBadInput;
    }
    if (source.starts_with("iscsi://")) {
        size_t start = 0;
        while (start <= source.size()) {
            const size_t comma = source.find(',', start);
            const std::string url = source.substr(start, comma - start);
            if (!url.empty()) request.urls.push_back(url);
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
    } else if (config.empty() && stat(source.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        config = source;
    } else if (config.empty()) {
        std::fprintf(stderr,
                     "lunfs: unknown command '%s' (see lunfs --help); as a mount helper, the "
                     "source must be iscsi:// URLs or a config file\n",
                     source.c_str());
        return kExitBadInput;
    }
    request.config = config;
    Result<MountSettings> settings = ResolveMountSettings(request);
    if (!settings.ok()) {
        std::fprintf(stderr, "lunfs: %s\n", settings.status().message().c_str());
        return kExitBadInput;
    }
    return RunMount(settings.value());
}

}  // namespace lunfs
