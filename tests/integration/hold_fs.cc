// lunfs_test_holdfs: a FUSE file system for tests that stands in for a target's slow disk. It
// serves one file, `lun.img`, whose bytes live in a real file (the store), and a control file,
// `ctl`. Writes to lun.img that overlap a chosen range can be held: the write is not performed
// and not answered until it is released, as a command stuck in a target's backend would be.
//
//   lunfs_test_holdfs STORE MOUNTPOINT [PIDFILE]   mounts, daemonizes once the mount is up
//
// Control, by writing one line to MOUNTPOINT/ctl:
//   hold OFFSET LENGTH COUNT   the next COUNT writes overlapping [OFFSET, OFFSET+LENGTH) are held
//   release                    performs the held writes (in arrival order) and answers them
// Reading MOUNTPOINT/ctl gives "held=H released=R writes=W\n": writes held now, writes released
// so far, and every write to lun.img so far.
//
// Every open is direct I/O with parallel direct writes (FOPEN_PARALLEL_DIRECT_WRITES), so the
// kernel neither caches the file nor serializes its writers: a held write blocks only the thread
// that issued it, and later writes to the same bytes pass it. On exit, held writes are performed.
// One limit of the kernel's side: fsync and fdatasync of the file wait for the writes in progress
// on it (they take the inode's lock exclusively), and writes that come after them wait too. So
// while a write is held, a SYNCHRONIZE CACHE, a FUA write, or any write with the LUN's write
// cache off stalls the whole disk until the release.
#define FUSE_USE_VERSION 312
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr fuse_ino_t kRoot = FUSE_ROOT_ID;
constexpr fuse_ino_t kLun = 2;
constexpr fuse_ino_t kCtl = 3;

struct HeldWrite {
    fuse_req_t req;
    std::vector<char> data;
    off_t offset;
};

struct State {
    int store = -1;
    std::mutex mu;  // guards everything below; never held while replying
    off_t hold_from = 0, hold_to = 0;
    int hold_count = 0;
    std::vector<HeldWrite> held;
    long released = 0, writes = 0;
};
State g;

std::string CtlText() {
    std::lock_guard lock(g.mu);
    std::ostringstream s;
    s << "held=" << g.held.size() << " released=" << g.released << " writes=" << g.writes << "\n";
    return s.str();
}

bool FillAttr(fuse_ino_t ino, struct stat& st) {
    std::memset(&st, 0, sizeof(st));
    st.st_ino = ino;
    st.st_uid = getuid();
    st.st_gid = getgid();
    if (ino == kRoot) {
        st.st_mode = S_IFDIR | 0755;
        st.st_nlink = 2;
    } else if (ino == kLun) {
        struct stat real {};
        if (fstat(g.store, &real) != 0) return false;
        st.st_mode = S_IFREG | 0644;
        st.st_nlink = 1;
        st.st_size = real.st_size;
        st.st_blocks = real.st_blocks;
    } else if (ino == kCtl) {
        st.st_mode = S_IFREG | 0644;
        st.st_nlink = 1;
        st.st_size = 0;
    } else {
        return false;
    }
    return true;
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    fuse_entry_param e{};
    const fuse_ino_t ino = std::strcmp(name, "lun.img") == 0 ? kLun
                           : std::strcmp(name, "ctl") == 0   ? kCtl
                                                             : 0;
    if (parent != kRoot || ino == 0 || !FillAttr(ino, e.attr)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    e.ino = ino;
    fuse_reply_entry(req, &e);
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    struct stat st;
    if (!FillAttr(ino, st)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    fuse_reply_attr(req, &st, 0);
}

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
    if ((to_set & FUSE_SET_ATTR_SIZE) && ino == kLun && ftruncate(g.store, attr->st_size) != 0) {
        fuse_reply_err(req, errno);
        return;
    }
    GetAttr(req, ino, nullptr);
}

// libfuse 3.14 has no field for FOPEN_PARALLEL_DIRECT_WRITES, so the answer is built here; it is
// the same fuse_open_out that fuse_reply_open() would send.
void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    if (ino != kLun && ino != kCtl) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    fuse_open_out out{};
    out.fh = fi->fh;
    out.open_flags = FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES;
    fuse_reply_buf(req, reinterpret_cast<const char*>(&out), sizeof(out));
}

void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    if (ino == kCtl) {
        const std::string text = CtlText();
        const size_t from = std::min<size_t>(static_cast<size_t>(off), text.size());
        fuse_reply_buf(req, text.data() + from, std::min(size, text.size() - from));
        return;
    }
    std::vector<char> buf(size);
    const ssize_t n = pread(g.store, buf.data(), size, off);
    if (n < 0) {
        fuse_reply_err(req, errno);
        return;
    }
    fuse_reply_buf(req, buf.data(), static_cast<size_t>(n));
}

void Land(const HeldWrite& w) {
    const ssize_t n = pwrite(g.store, w.data.data(), w.data.size(), w.offset);
    if (n < 0) {
        fuse_reply_err(w.req, errno);
    } else {
        fuse_reply_write(w.req, static_cast<size_t>(n));
    }
}

void ReleaseAll() {
    std::vector<HeldWrite> held;
    {
        std::lock_guard lock(g.mu);
        held.swap(g.held);
        g.released += static_cast<long>(held.size());
    }
    for (const HeldWrite& w : held) Land(w);
}

void Control(fuse_req_t req, const char* buf, size_t size) {
    std::istringstream in(std::string(buf, size));
    std::string verb;
    in >> verb;
    if (verb == "release") {
        ReleaseAll();
    } else if (verb == "hold") {
        long long off = 0, len = 0;
        int count = 0;
        if (!(in >> off >> len >> count) || off < 0 || len <= 0 || count < 0) {
            fuse_reply_err(req, EINVAL);
            return;
        }
        std::lock_guard lock(g.mu);
        g.hold_from = off;
        g.hold_to = off + len;
        g.hold_count = count;
    } else {
        fuse_reply_err(req, EINVAL);
        return;
    }
    fuse_reply_write(req, size);
}

void Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
           fuse_file_info*) {
    if (ino == kCtl) {
        Control(req, buf, size);
        return;
    }
    HeldWrite w{req, {}, off};
    {
        std::lock_guard lock(g.mu);
        ++g.writes;
        const bool overlaps = off < g.hold_to && off + static_cast<off_t>(size) > g.hold_from;
        if (overlaps && g.hold_count > 0) {
            --g.hold_count;
            w.data.assign(buf, buf + size);
            g.held.push_back(std::move(w));
            return;  // answered by ReleaseAll()
        }
    }
    w.data.assign(buf, buf + size);
    Land(w);
}

void Fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) {
    const int rc = ino != kLun ? 0 : datasync ? fdatasync(g.store) : fsync(g.store);
    fuse_reply_err(req, rc == 0 ? 0 : errno);
}

void Flush(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }
void Release(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void Statfs(fuse_req_t req, fuse_ino_t) {
    struct statvfs st {};
    if (fstatvfs(g.store, &st) != 0) {
        fuse_reply_err(req, errno);
        return;
    }
    fuse_reply_statfs(req, &st);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3 || argc > 4) {
        std::fprintf(stderr, "usage: lunfs_test_holdfs STORE MOUNTPOINT [PIDFILE]\n");
        return 2;
    }
    g.store = open(argv[1], O_RDWR);
    if (g.store < 0) {
        std::fprintf(stderr, "lunfs_test_holdfs: %s: %s\n", argv[1], std::strerror(errno));
        return 1;
    }
    fuse_lowlevel_ops ops{};
    ops.lookup = Lookup;
    ops.getattr = GetAttr;
    ops.setattr = SetAttr;
    ops.open = Open;
    ops.read = Read;
    ops.write = Write;
    ops.fsync = Fsync;
    ops.flush = Flush;
    ops.release = Release;
    ops.statfs = Statfs;
    char name[] = "lunfs_test_holdfs";
    char opt[] = "-o";
    char opts[] = "fsname=lunfs_test_holdfs";
    char* fuse_argv[] = {name, opt, opts, nullptr};
    fuse_args args = FUSE_ARGS_INIT(3, fuse_argv);
    fuse_session* se = fuse_session_new(&args, &ops, sizeof(ops), nullptr);
    if (!se || fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, argv[2]) != 0) {
        std::fprintf(stderr, "lunfs_test_holdfs: cannot mount %s\n", argv[2]);
        return 1;
    }
    fuse_daemonize(0);
    if (argc == 4) {
        if (FILE* f = std::fopen(argv[3], "w")) {
            std::fprintf(f, "%d\n", getpid());
            std::fclose(f);
        }
    }
    fuse_loop_config* config = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(config, 0);
    fuse_loop_cfg_set_max_threads(config, 64);
    const int rc = fuse_session_loop_mt(se, config);
    fuse_loop_cfg_destroy(config);
    ReleaseAll();
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return rc == 0 ? 0 : 1;
}
