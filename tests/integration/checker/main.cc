// lunfs_check: a consistency checker of "the last acknowledged write wins" for a LUN file.
//
//   lunfs_check run --file MNT/lun1 --ledger L [--seconds S] [--writers N] [--buffered K]
//                   [--readers R] [--offset-mib O] [--area-mib A] [--max-kib M] [--seed S]
//       writes stamped blocks, checks every read as it arrives and the whole area at the end
//       (writers fsync first), and saves what it knows to the ledger file L;
//   lunfs_check verify --file FILE --ledger L [--phase NAME]
//       checks FILE (the target's backing file, or the LUN through another mount) against L:
//       every block must hold its last acknowledged write (either version where a write failed).
//
// Every violation is printed (block, owner, expected and found generation, the writes involved
// and their times); exit code 0 clean, 1 violations, 2 bad usage, 3 I/O errors only.
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tests/integration/checker/ledger.h"
#include "tests/integration/checker/verify.h"
#include "tests/integration/checker/workload.h"

namespace lunfs::check {
namespace {

// Opens `file` for reads that bypass the page cache: O_DIRECT, or where the file system refuses
// it (tmpfs on older kernels), a plain handle whose cached pages are dropped first.
int OpenUncached(const std::string& file) {
    int fd = open(file.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd >= 0 || errno != EINVAL) return fd;
    fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    return fd;
}

int Verify(const std::string& file, const std::string& ledger_path, const std::string& phase) {
    std::string error;
    std::unique_ptr<Ledger> ledger = Ledger::Load(ledger_path, error);
    if (!ledger) {
        std::fprintf(stderr, "lunfs_check: %s\n", error.c_str());
        return 2;
    }
    const int fd = OpenUncached(file);
    if (fd < 0) {
        std::fprintf(stderr, "lunfs_check: cannot open %s: %s\n", file.c_str(), strerror(errno));
        return 3;
    }
    Verifier verifier(*ledger, phase);
    const bool ok = VerifyAll(fd, *ledger, verifier);
    close(fd);
    std::printf(
        "summary [%s]: blocks_checked=%llu read_errors=%llu violations=%llu "
        "failed_writes_in_ledger=%zu\n",
        phase.c_str(), static_cast<unsigned long long>(verifier.checked()),
        static_cast<unsigned long long>(verifier.read_errors()),
        static_cast<unsigned long long>(verifier.violations()), ledger->FailedWrites());
    if (verifier.violations() > 0) return 1;
    return ok ? 0 : 3;
}

}  // namespace
}  // namespace lunfs::check

int main(int argc, char** argv) {
    using namespace lunfs::check;
    CLI::App app{"lunfs_check: does the last acknowledged write win?"};
    app.require_subcommand(1);
    WorkloadOptions w;
    CLI::App* run = app.add_subcommand("run", "write, read and check a LUN file");
    run->add_option("--file", w.file, "the LUN file")->required();
    run->add_option("--ledger", w.ledger, "where to save the ledger at the end");
    run->add_option("--seconds", w.seconds, "how long the writers rewrite")
        ->check(CLI::Range(0.0, 1e6));
    run->add_option("--writers", w.writers, "writer threads")->check(CLI::Range(1, 256));
    run->add_option("--buffered", w.buffered, "writers without O_DIRECT")
        ->check(CLI::Range(0, 256));
    run->add_option("--readers", w.readers, "reader threads")->check(CLI::Range(0, 256));
    run->add_option("--offset-mib", w.offset_mib, "start of the area checked");
    run->add_option("--area-mib", w.area_mib, "size of the area checked")
        ->check(CLI::Range(1, 1 << 20));
    run->add_option("--max-kib", w.max_kib, "largest write or read")->check(CLI::Range(1, 65536));
    run->add_option("--seed", w.seed, "random seed");
    std::string file, ledger, phase = "verify";
    CLI::App* verify = app.add_subcommand("verify", "check a file against a saved ledger");
    verify->add_option("--file", file, "the file to check")->required();
    verify->add_option("--ledger", ledger, "the ledger a run saved")->required();
    verify->add_option("--phase", phase, "name for reports");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    if (run->parsed()) {
        if (w.buffered > w.writers || (w.area_mib << 20) / 512 < 3ull * w.writers) {
            std::fprintf(stderr, "lunfs_check: --buffered exceeds --writers, or area too small\n");
            return 2;
        }
        return RunWorkload(w);
    }
    return Verify(file, ledger, phase);
}
