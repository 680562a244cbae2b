#include "fuse/lun_fs.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>

#include "fuse/request_buffer.h"

namespace lunfs {

namespace {

constexpr fuse_ino_t kRootIno = FUSE_ROOT_ID;  // 1
constexpr fuse_ino_t kControlDirIno = 2;
constexpr fuse_ino_t kControlBase = 16;  // control file i has inode kControlBase + i
constexpr fuse_ino_t kLunBase = 1024;    // LUN i has inode kLunBase + i
constexpr const char* kControlDirName = ".lunfs";
constexpr uint32_t kMaxIo = 1u << 20;  // max_read and max_write
constexpr double kAttrTimeout = 1.0;

LunFs* Self(fuse_req_t req) { return static_cast<LunFs*>(fuse_req_userdata(req)); }

// A read in flight: the buffer lives until the reply has been sent.
struct ReadOp {
    fuse_req_t req;
    std::unique_ptr<char[]> buf;
    size_t size;
};

// A write in flight: its payload lives until the target acknowledged it, in the request buffer
// it arrived in or in a copy.
struct WriteOp {
    fuse_req_t req;
    size_t size;
    std::shared_ptr<const std::byte> request_buffer;
    std::unique_ptr<char[]> copy;
};

// Smaller writes are copied: a kept request buffer pins 2 MiB for as long as the write lasts.
constexpr size_t kKeepBufferFrom = 64u << 10;

void ReplyStatus(fuse_req_t req, const Status& s, const char* what) {
    if (!s.ok()) spdlog::error("{} failed: {}", what, s.ToString());
    fuse_reply_err(req, s.ok() ? 0 : s.code());
}

// Set by a handler once it has handed its request to a device, which then answers it.
thread_local bool handed_off = false;

// Runs a handler so that nothing it throws (memory exhausted, a bug) unwinds into libfuse's C:
// the request is answered EIO unless a device already owns its answer.
template <typename Handler>
void Guarded(fuse_req_t req, const char* op, Handler&& handler) noexcept {
    handed_off = false;
    const char* what = "an exception of unknown type";
    try {
        handler();
        return;
    } catch (const std::exception& e) {
        what = e.what();
    } catch (...) {
    }
    try {
        spdlog::error("{}: unexpected failure: {}", op, what);
    } catch (...) {
    }
    if (!handed_off) fuse_reply_err(req, EIO);
}

}  // namespace

void LunFs::Hand(BlockDevice& dev, IoRequest io, fuse_req_t req) {
    auto answered = std::make_shared<std::atomic<bool>>(false);
    IoCallback done = std::move(io.done);
    io.done = [this, answered, done = std::move(done)](Status s) {
        if (answered->exchange(true)) return;
        done(std::move(s));
        Ended();
    };
    in_flight_.fetch_add(1);
    handed_off = true;
    try {
        dev.Submit(std::move(io));
    } catch (...) {
        if (!answered->exchange(true)) {
            fuse_reply_err(req, EIO);
            Ended();
        }
        throw;  // Guarded logs it
    }
}

void LunFs::Ended() {
    if (in_flight_.fetch_sub(1) != 1) return;
    std::lock_guard lock(idle_mu_);  // a waiter checks the count under it: no lost wake-up
    idle_.notify_all();
}

uint64_t LunFs::InFlight() const { return in_flight_.load(); }

bool LunFs::WaitIdle(std::chrono::milliseconds limit) {
    std::unique_lock lock(idle_mu_);
    return idle_.wait_for(lock, limit, [&] { return in_flight_.load() == 0; });
}

LunFs::LunFs(std::vector<LunFile> luns, std::vector<ControlFile> control, FsOptions options)
    : luns_(std::move(luns)),
      present_(std::make_unique<std::atomic<bool>[]>(luns_.size())),
      control_(std::move(control)),
      options_(options) {
    for (size_t i = 0; i < luns_.size(); ++i) present_[i].store(luns_[i].device != nullptr);
}

bool LunFs::Attach(const std::string& name, std::shared_ptr<BlockDevice> device) {
    for (size_t i = 0; i < luns_.size(); ++i) {
        if (luns_[i].name != name || Present(i)) continue;
        luns_[i].device = std::move(device);
        present_[i].store(true, std::memory_order_release);
        return true;
    }
    return false;
}

LunFs::Kind LunFs::KindOf(fuse_ino_t ino) const {
    if (ino == kRootIno) return Kind::kRoot;
    if (ino == kControlDirIno) return Kind::kControlDir;
    if (ino >= kControlBase && ino < kControlBase + control_.size()) return Kind::kControl;
    if (ino >= kLunBase && ino < kLunBase + luns_.size() && Present(ino - kLunBase)) {
        return Kind::kLun;
    }
    return Kind::kNone;
}

BlockDevice& LunFs::Lun(fuse_ino_t ino) const { return *luns_[ino - kLunBase].device; }

bool LunFs::ReadOnly(fuse_ino_t ino) const {
    return options_.read_only || luns_[ino - kLunBase].read_only;
}

bool LunFs::Stat(fuse_ino_t ino, struct stat* st) const {
    *st = {};
    st->st_ino = ino;
    st->st_uid = options_.uid;
    st->st_gid = options_.gid;
    st->st_blksize = kMaxIo;
    st->st_atime = st->st_mtime = st->st_ctime = options_.mount_time;
    switch (KindOf(ino)) {
        case Kind::kRoot:
            st->st_mode = S_IFDIR | 0755;
            st->st_nlink = 3;
            return true;
        case Kind::kControlDir:
            st->st_mode = S_IFDIR | 0555;
            st->st_nlink = 2;
            return true;
        case Kind::kControl:
            st->st_mode = S_IFREG | (control_[ino - kControlBase].command ? 0644 : 0444);
            st->st_nlink = 1;
            return true;
        case Kind::kLun: {
            const BlockDevice& dev = Lun(ino);
            st->st_mode = S_IFREG | (ReadOnly(ino) ? 0400 : 0600);
            st->st_nlink = 1;
            st->st_size = static_cast<off_t>(dev.Capacity());
            st->st_blocks = static_cast<blkcnt_t>(dev.Capacity() / 512);
            return true;
        }
        case Kind::kNone:
            return false;
    }
    return false;
}

void LunFs::Init(fuse_conn_info* conn) {
    conn->max_write = kMaxIo;
    conn->max_read = kMaxIo;  // must match the max_read mount option
    conn->max_readahead = std::min<unsigned>(conn->max_readahead, kMaxIo);
    conn->max_background = 64;
    conn->congestion_threshold = 48;
    const unsigned wanted = FUSE_CAP_ASYNC_READ | FUSE_CAP_ASYNC_DIO | FUSE_CAP_PARALLEL_DIROPS;
    conn->want |= wanted & conn->capable;
    // The kernel's write-back cache would acknowledge writes lunfs has not written and lose
    // their errors; writes always come through, and reply once the target has them.
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

void LunFs::ReplyEntry(fuse_req_t req, fuse_ino_t ino) {
    fuse_entry_param e{};
    e.ino = ino;
    e.attr_timeout = kAttrTimeout;
    e.entry_timeout = kAttrTimeout;
    Stat(ino, &e.attr);
    fuse_reply_entry(req, &e);
}

void LunFs::Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    if (parent == kRootIno) {
        if (std::strcmp(name, kControlDirName) == 0) return ReplyEntry(req, kControlDirIno);
        for (size_t i = 0; i < luns_.size(); ++i) {
            if (luns_[i].name == name && Present(i)) return ReplyEntry(req, kLunBase + i);
        }
    } else if (parent == kControlDirIno) {
        for (size_t i = 0; i < control_.size(); ++i) {
            if (control_[i].name == name) return ReplyEntry(req, kControlBase + i);
        }
    }
    fuse_reply_err(req, ENOENT);
}

void LunFs::GetAttr(fuse_req_t req, fuse_ino_t ino) {
    struct stat st;
    if (!Stat(ino, &st)) return (void)fuse_reply_err(req, ENOENT);
    fuse_reply_attr(req, &st, kAttrTimeout);
}

// A LUN file behaves like a block device: its size is the LUN's and never changes. Truncating to
// the size or below (O_TRUNC, `truncate`, cp's final ftruncate) is accepted and changes nothing,
// data included; growing past the capacity is EFBIG. Times are accepted and not kept; owner and
// mode cannot be changed.
void LunFs::SetAttr(fuse_req_t req, fuse_ino_t ino, const struct stat* attr, int to_set) {
    struct stat st;
    if (!Stat(ino, &st)) return (void)fuse_reply_err(req, ENOENT);
    if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
        return (void)fuse_reply_err(req, EPERM);
    }
    if (to_set & FUSE_SET_ATTR_SIZE) {
        if (KindOf(ino) == Kind::kControl) return (void)fuse_reply_attr(req, &st, kAttrTimeout);
        if (KindOf(ino) != Kind::kLun) return (void)fuse_reply_err(req, EACCES);
        if (ReadOnly(ino)) return (void)fuse_reply_err(req, EROFS);
        if (attr->st_size > st.st_size) return (void)fuse_reply_err(req, EFBIG);
    }
    fuse_reply_attr(req, &st, kAttrTimeout);
}

void LunFs::ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off) {
    std::vector<std::pair<std::string, fuse_ino_t>> entries = {{".", ino}, {"..", kRootIno}};
    if (ino == kRootIno) {
        entries.emplace_back(kControlDirName, kControlDirIno);
        for (size_t i = 0; i < luns_.size(); ++i) {
            if (Present(i)) entries.emplace_back(luns_[i].name, kLunBase + i);
        }
    } else if (ino == kControlDirIno) {
        for (size_t i = 0; i < control_.size(); ++i) {
            entries.emplace_back(control_[i].name, kControlBase + i);
        }
    } else {
        return (void)fuse_reply_err(req, ENOTDIR);
    }
    std::vector<char> buf(size);
    size_t used = 0;
    for (size_t i = static_cast<size_t>(off); i < entries.size(); ++i) {
        struct stat st;
        Stat(entries[i].second, &st);
        const size_t need =
            fuse_add_direntry(req, buf.data() + used, size - used, entries[i].first.c_str(), &st,
                              static_cast<off_t>(i + 1));
        if (need > size - used) break;
        used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
}

void LunFs::Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    const bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
    switch (KindOf(ino)) {
        case Kind::kLun:
            if (writing && ReadOnly(ino)) return (void)fuse_reply_err(req, EROFS);
            // O_DIRECT opens bypass the kernel page cache; others use it, and drop what it held
            // at every open, since other initiators may have changed the LUN meanwhile.
            fi->direct_io = (fi->flags & O_DIRECT) ? 1 : 0;
            fi->keep_cache = 0;
            fi->fh = OpenLunHandle(ino, fi->flags);
            if (fuse_reply_open(req, fi) != 0) CloseLunHandle(fi);
            return;
        case Kind::kControl: {
            if (writing && !control_[ino - kControlBase].command)
                return (void)fuse_reply_err(req, EACCES);
            // The table holds one reference; each read takes another for as long as its reply
            // is being sent, so a release racing with the end of a read frees nothing in use.
            auto text = std::make_shared<const std::string>(control_[ino - kControlBase].render());
            {
                std::lock_guard lock(handles_mu_);
                fi->fh = next_handle_++;
                handles_.emplace(fi->fh, std::move(text));
            }
            fi->direct_io = 1;  // the size is not known in advance
            if (fuse_reply_open(req, fi) != 0) {
                std::lock_guard lock(handles_mu_);
                handles_.erase(fi->fh);
            }
            return;
        }
        case Kind::kRoot:
        case Kind::kControlDir:
            return (void)fuse_reply_err(req, EISDIR);
        case Kind::kNone:
            return (void)fuse_reply_err(req, ENOENT);
    }
}

void LunFs::Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    if (KindOf(ino) == Kind::kControl) {
        std::shared_ptr<const std::string> text;
        {
            std::lock_guard lock(handles_mu_);
            auto it = handles_.find(fi->fh);
            if (it == handles_.end()) return (void)fuse_reply_err(req, EBADF);
            text = it->second;
        }
        const size_t start = std::min(static_cast<size_t>(off), text->size());
        fuse_reply_buf(req, text->data() + start, std::min(size, text->size() - start));
        return;
    }
    if (KindOf(ino) != Kind::kLun) return (void)fuse_reply_err(req, EISDIR);
    BlockDevice& dev = Lun(ino);
    const uint64_t cap = dev.Capacity();
    if (off < 0) return (void)fuse_reply_err(req, EINVAL);
    if (static_cast<uint64_t>(off) >= cap || size == 0)
        return (void)fuse_reply_buf(req, nullptr, 0);
    size = static_cast<size_t>(std::min<uint64_t>(size, cap - static_cast<uint64_t>(off)));

    // Buffers are not zeroed: the read fills, the copy overwrites every byte.
    auto op = std::make_shared<ReadOp>(ReadOp{req, std::unique_ptr<char[]>(new char[size]), size});
    IoRequest io{IoOp::kRead, static_cast<uint64_t>(off), {iovec{op->buf.get(), size}}, nullptr};
    io.done = [op](Status s) {
        if (s.ok()) {
            fuse_reply_buf(op->req, op->buf.get(), op->size);
        } else {
            ReplyStatus(op->req, s, "read");
        }
    };
    Hand(dev, std::move(io), req);
}

namespace {

// A write's flags are its handle's with its own added (pwritev2's RWF_DSYNC arrives as O_DSYNC,
// RWF_SYNC as O_SYNC, which holds O_DSYNC's bit). O_DIRECT, O_SYNC and O_DSYNC write through any
// cache; O_SYNC and O_DSYNC writes are also on stable storage when they complete.
uint32_t WriteFlags(int flags) {
    uint32_t out = kIoNoFlags;
    if (flags & (O_DIRECT | O_SYNC | O_DSYNC)) out |= kIoWriteThrough;
    if (flags & O_DSYNC) out |= kIoDurable;
    return out;
}

}  // namespace

void LunFs::Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
                  fuse_file_info* fi) {
    if (KindOf(ino) == Kind::kControl && control_[ino - kControlBase].command) {
        // Runs in this worker: control commands are rare and may take a login's time.
        Status s = control_[ino - kControlBase].command(std::string_view(buf, size));
        if (!s.ok()) return ReplyStatus(req, s, "control command");
        return (void)fuse_reply_write(req, size);
    }
    if (KindOf(ino) != Kind::kLun) return (void)fuse_reply_err(req, EACCES);
    if (ReadOnly(ino)) return (void)fuse_reply_err(req, EROFS);
    BlockDevice& dev = Lun(ino);
    const uint64_t cap = dev.Capacity();
    if (off < 0) return (void)fuse_reply_err(req, EINVAL);
    if (size == 0) return (void)fuse_reply_write(req, 0);
    if (static_cast<uint64_t>(off) >= cap) return (void)fuse_reply_err(req, ENOSPC);
    // A write straddling the end is written up to the end and reported short.
    size = static_cast<size_t>(std::min<uint64_t>(size, cap - static_cast<uint64_t>(off)));

    auto op = std::make_shared<WriteOp>(WriteOp{req, size, nullptr, nullptr});
    if (size >= kKeepBufferFrom) op->request_buffer = TakeRequestBuffer(buf);
    char* data = const_cast<char*>(buf);  // not written to: the payload is only sent
    if (!op->request_buffer) {
        op->copy.reset(new char[size]);
        std::memcpy(op->copy.get(), buf, size);
        data = op->copy.get();
    }
    IoRequest io{IoOp::kWrite,
                 static_cast<uint64_t>(off),
                 {iovec{data, size}},
                 nullptr,
                 WriteFlags(fi->flags)};
    io.done = [op](Status s) {
        if (s.ok()) {
            fuse_reply_write(op->req, op->size);
        } else {
            ReplyStatus(op->req, s, "write");
        }
    };
    Hand(dev, std::move(io), req);
}

uint64_t LunFs::OpenLunHandle(fuse_ino_t ino, int flags) {
    const uint64_t seen = Lun(ino).WriteBackFailures();
    std::lock_guard lock(handles_mu_);
    const uint64_t key = next_handle_++ & 0xffffffffu;
    lun_handles_[key] = LunHandle{seen};
    return key << 32 | static_cast<uint32_t>(flags);
}

void LunFs::CloseLunHandle(const fuse_file_info* fi) {
    std::lock_guard lock(handles_mu_);
    lun_handles_.erase(fi->fh >> 32);
}

uint64_t LunFs::TakeFailuresSeen(const fuse_file_info* fi, uint64_t now) {
    if ((OpenFlags(fi) & O_ACCMODE) == O_RDONLY) return now;
    std::lock_guard lock(handles_mu_);
    auto it = lun_handles_.find(fi->fh >> 32);
    if (it == lun_handles_.end()) return now;
    const uint64_t seen = it->second.failures_seen;
    it->second.failures_seen = std::max(seen, now);
    return seen;
}

void LunFs::SendFlush(fuse_req_t req, fuse_ino_t ino, const fuse_file_info* fi) {
    BlockDevice& dev = Lun(ino);
    IoRequest io{IoOp::kFlush, 0, {}, [req](Status s) { ReplyStatus(req, s, "flush"); }};
    io.failures_seen = TakeFailuresSeen(fi, dev.WriteBackFailures());
    Hand(dev, std::move(io), req);
}

// close(): a handle that could write drains its writes to stable storage (a write-back cache
// writes back what it holds, then SYNCHRONIZE CACHE) and hears of write-backs the LUN refused
// since its open or its last flush; read-only handles have nothing to make durable.
void LunFs::Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    if (KindOf(ino) != Kind::kLun || (OpenFlags(fi) & O_ACCMODE) == O_RDONLY || ReadOnly(ino)) {
        return (void)fuse_reply_err(req, 0);
    }
    SendFlush(req, ino, fi);
}

void LunFs::Fsync(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    if (KindOf(ino) != Kind::kLun || ReadOnly(ino)) return (void)fuse_reply_err(req, 0);
    SendFlush(req, ino, fi);
}

// fallocate(): a LUN has all its blocks already, so allocating inside it succeeds and beyond it
// fails like growing it (EFBIG). Punching a hole discards the range (UNMAP or WRITE SAME with
// UNMAP below), so it reads as zeros; a LUN that cannot do that gets EOPNOTSUPP and is untouched.
void LunFs::Fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length) {
    if (KindOf(ino) != Kind::kLun) return (void)fuse_reply_err(req, EOPNOTSUPP);
    if (ReadOnly(ino)) return (void)fuse_reply_err(req, EROFS);
    if (offset < 0 || length <= 0) return (void)fuse_reply_err(req, EINVAL);
    BlockDevice& dev = Lun(ino);
    const uint64_t cap = dev.Capacity();
    const uint64_t begin = static_cast<uint64_t>(offset);
    const uint64_t end = begin + static_cast<uint64_t>(length);
    if (mode == 0 || mode == FALLOC_FL_KEEP_SIZE) {
        return (void)fuse_reply_err(req, (mode == 0 && end > cap) ? EFBIG : 0);
    }
    if (mode != (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
        return (void)fuse_reply_err(req, EOPNOTSUPP);
    }
    if (begin >= cap) return (void)fuse_reply_err(req, 0);
    if (!dev.CanDiscard()) return (void)fuse_reply_err(req, EOPNOTSUPP);
    IoRequest io{IoOp::kDiscard, begin, {}, nullptr, kIoWriteThrough, std::min(end, cap) - begin};
    io.done = [req](Status s) { ReplyStatus(req, s, "punch hole"); };
    Hand(dev, std::move(io), req);
}

void LunFs::Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    if (KindOf(ino) == Kind::kControl) {
        std::lock_guard lock(handles_mu_);
        handles_.erase(fi->fh);
    } else if (KindOf(ino) == Kind::kLun) {
        CloseLunHandle(fi);
    }
    fuse_reply_err(req, 0);
}

void LunFs::StatFs(fuse_req_t req) {
    struct statvfs sv {};
    uint64_t total = 0;
    uint32_t bsize = 512;
    for (size_t i = 0; i < luns_.size(); ++i) {
        if (!Present(i)) continue;
        total += luns_[i].device->Capacity();
        bsize = std::max(bsize, luns_[i].device->BlockSize());
    }
    sv.f_bsize = bsize;
    sv.f_frsize = bsize;
    sv.f_blocks = total / bsize;
    sv.f_bfree = 0;  // every byte of a LUN belongs to its file
    sv.f_bavail = 0;
    sv.f_files = luns_.size() + control_.size() + 2;
    sv.f_ffree = 0;
    sv.f_namemax = 255;
    if (options_.read_only) sv.f_flag |= ST_RDONLY;
    fuse_reply_statfs(req, &sv);
}

const fuse_lowlevel_ops& LunFs::Ops() {
    static const fuse_lowlevel_ops ops = [] {
        fuse_lowlevel_ops ops_table{};
        ops_table.init = [](void* data, fuse_conn_info* conn) {
            static_cast<LunFs*>(data)->Init(conn);  // sets fields only
        };
        ops_table.lookup = [](fuse_req_t r, fuse_ino_t p, const char* n) {
            Guarded(r, "lookup", [&] { Self(r)->Lookup(r, p, n); });
        };
        ops_table.getattr = [](fuse_req_t r, fuse_ino_t i, fuse_file_info*) {
            Guarded(r, "getattr", [&] { Self(r)->GetAttr(r, i); });
        };
        ops_table.setattr = [](fuse_req_t r, fuse_ino_t i, struct stat* a, int s, fuse_file_info*) {
            Guarded(r, "setattr", [&] { Self(r)->SetAttr(r, i, a, s); });
        };
        ops_table.readdir = [](fuse_req_t r, fuse_ino_t i, size_t s, off_t o, fuse_file_info*) {
            Guarded(r, "readdir", [&] { Self(r)->ReadDir(r, i, s, o); });
        };
        ops_table.open = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) {
            Guarded(r, "open", [&] { Self(r)->Open(r, i, f); });
        };
        ops_table.read = [](fuse_req_t r, fuse_ino_t i, size_t s, off_t o, fuse_file_info* f) {
            Guarded(r, "read", [&] { Self(r)->Read(r, i, s, o, f); });
        };
        ops_table.write = [](fuse_req_t r, fuse_ino_t i, const char* b, size_t s, off_t o,
                             fuse_file_info* f) {
            Guarded(r, "write", [&] { Self(r)->Write(r, i, b, s, o, f); });
        };
        ops_table.flush = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) {
            Guarded(r, "flush", [&] { Self(r)->Flush(r, i, f); });
        };
        ops_table.fsync = [](fuse_req_t r, fuse_ino_t i, int, fuse_file_info* f) {
            Guarded(r, "fsync", [&] { Self(r)->Fsync(r, i, f); });
        };
        ops_table.release = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) {
            Guarded(r, "release", [&] { Self(r)->Release(r, i, f); });
        };
        ops_table.statfs = [](fuse_req_t r, fuse_ino_t) {
            Guarded(r, "statfs", [&] { Self(r)->StatFs(r); });
        };
        ops_table.fallocate = [](fuse_req_t r, fuse_ino_t i, int mode, off_t o, off_t l,
                                 fuse_file_info*) {
            Guarded(r, "fallocate", [&] { Self(r)->Fallocate(r, i, mode, o, l); });
        };
        return ops_table;
    }();
    return ops;
}

}  // namespace lunfs
