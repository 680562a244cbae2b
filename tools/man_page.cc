#include "tools/man_page.h"

#include <fmt/format.h>

#include "tools/cli.h"

namespace lunfs {

namespace {

// Text as roff: backslashes and hyphens escaped, no line starting with a control character.
std::string Roff(const std::string& text) {
    std::string out;
    bool line_start = true;
    for (char c : text) {
        if (line_start && (c == '.' || c == '\'')) out += "\\&";
        if (c == '\\') {
            out += "\\e";
        } else if (c == '-') {
            out += "\\-";
        } else {
            out += c;
        }
        line_start = c == '\n';
    }
    return out;
}

std::string Usage(const CLI::App& sub) {
    std::string out = "lunfs " + sub.get_name() + " [options]";
    for (const CLI::Option* o :
         sub.get_options([](const CLI::Option* o) { return o->get_positional(); })) {
        std::string name = o->get_name();
        for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        const bool many = o->get_items_expected_max() > 1;
        out += o->get_required() ? " " + name : " [" + name + "]";
        if (many) out += "...";
    }
    return out;
}

std::string Options(const CLI::App& sub) {
    std::string out;
    for (const CLI::Option* o : sub.get_options()) {
        if (o->get_name() == "--help" || o->get_name().empty()) continue;
        std::string head;
        if (o->get_positional()) {
            head = o->get_name();
            for (char& c : head) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        } else {
            head = o->get_name(false, true);
            if (o->get_type_size() != 0 && !o->get_type_name().empty()) {
                head += " " + o->get_type_name();
            }
        }
        std::string text = o->get_description();
        if (!o->get_default_str().empty())
            text += fmt::format(" (default: {})", o->get_default_str());
        out += fmt::format(".TP\n.B {}\n{}\n", Roff(head), Roff(text));
    }
    return out;
}

std::string Section(const CLI::App& sub) {
    std::string out =
        fmt::format(".SS \"{}\"\n{}\n", Roff(Usage(sub)), Roff(sub.get_description()));
    const std::string footer = sub.get_footer();
    const size_t examples = footer.find("Examples:\n");
    const std::string prose = footer.substr(0, examples);
    if (!prose.empty()) out += ".PP\n" + Roff(prose);
    out += Options(sub);
    const std::vector<Example>& list = ExamplesOf(sub.get_name());
    if (!list.empty()) {
        out += ".PP\nExamples:\n.RS\n";
        for (const Example& e : list) {
            out += ".nf\n" + Roff(e.command) + "\n.fi\n";
            if (!e.comment.empty()) out += ".RS\n" + Roff(e.comment) + "\n.RE\n";
        }
        out += ".RE\n";
    }
    return out;
}

}  // namespace

std::string RenderManPage(const CLI::App& app) {
    std::string out = ".TH LUNFS 1 \"\" \"lunfs 0.1.0\" \"User Commands\"\n.nh\n.ad l\n";
    out += ".SH NAME\nlunfs \\- mount iSCSI LUNs as files, over all their paths at once\n";
    out += ".SH SYNOPSIS\n.B lunfs\n.I command\n[options] [arguments]\n";
    out += ".br\n.B lunfs\n.I source mountpoint\n.B \\-o\n.I options\n";
    out += ".SH DESCRIPTION\n" + Roff(app.get_description()) + "\n";
    out += ".SH COMMANDS\n";
    for (const CLI::App* sub :
         app.get_subcommands([](const CLI::App* a) { return !a->get_group().empty(); })) {
        out += Section(*sub);
    }
    out +=
        ".SH \"MOUNT HELPER\"\n" +
        Roff(
            "mount -t fuse.lunfs and /etc/fstab lines run lunfs through mount.fuse3 as "
            "`lunfs SOURCE MOUNTPOINT -o OPTIONS`. SOURCE is one or more URLs joined by ',', "
            "or a config file; OPTIONS are the long option names of lunfs mount "
            "(policy=failover,name=vm1, config=FILE); ro and rw set read-only, and the "
            "options mount itself passes (_netdev, noatime, nosuid, ...) are accepted; "
            "wait=SECONDS keeps trying while no portal of a LUN answers yet, as a _netdev line "
            "may need at boot. "
            "mount(8) runs helpers with a fixed PATH, so lunfs must be installed in "
            "/usr/local/bin, /usr/bin or /bin (cmake --install build).") +
        "\n.PP\n.nf\n" +
        Roff(
            "iscsi://192.0.2.10/iqn.2026-01.com.example:store/1 /mnt/san fuse.lunfs "
            "_netdev,name=vm1 0 0\n/etc/lunfs/san.toml /mnt/san fuse.lunfs _netdev,wait=60 0 0") +
        "\n.fi\n";
    out +=
        ".SH \"EXIT STATUS\"\n0 on success, 1 when the work failed (unreachable portal, "
        "refused login, I/O error), 2 for bad usage or input.\n";
    out += ".SH \"SEE ALSO\"\nmount.fuse3(8), fstab(5), fusermount3(1), iscsiadm(8)\n";
    return out;
}

}  // namespace lunfs
