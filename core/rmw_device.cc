#include "core/rmw_device.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <utility>
#include <vector>

namespace lunfs {

namespace {

uint64_t RoundDown(uint64_t v, uint64_t unit) { return v - v % unit; }
uint64_t RoundUp(uint64_t v, uint64_t unit) { return RoundDown(v + unit - 1, unit); }

iovec Iov(std::byte* base, uint64_t len) { return iovec{base, static_cast<size_t>(len)}; }

}  // namespace

// One write in flight: the caller's request, its lock ticket and the edge blocks it merges with.
struct RmwDevice::Write {
    IoRequest request;
    uint64_t begin = 0;  // caller's byte range
    uint64_t end = 0;
    uint64_t aligned_begin = 0;  // the blocks it touches
    uint64_t aligned_end = 0;
    RangeLock::Ticket ticket = 0;
    // Old contents of the first and last touched blocks when the write covers them partly. When
    // both edges fall in one block, only `head` is used.
    std::unique_ptr<std::byte[]> head;
    std::unique_ptr<std::byte[]> tail;
    std::atomic<int> edge_reads{0};
    std::atomic<bool> edge_failed{false};
    Status edge_status;  // written by the first failing edge read, before its edge_reads decrement
};

RmwDevice::RmwDevice(std::shared_ptr<BlockDevice> inner) : inner_(std::move(inner)) {}

void RmwDevice::Submit(IoRequest request) {
    if (Status s = ValidateRequest(*this, request); !s.ok()) {
        request.done(std::move(s));
        return;
    }
    switch (request.op) {
        case IoOp::kFlush:
            inner_->Submit(std::move(request));
            return;
        case IoOp::kRead:
            SubmitRead(std::move(request));
            return;
        case IoOp::kWrite:
            SubmitWrite(std::move(request));
            return;
        case IoOp::kDiscard:
            SubmitDiscard(std::move(request));
            return;
    }
}

void RmwDevice::SubmitRead(IoRequest request) {
    const uint64_t bs = BlockSize();
    const uint64_t begin = request.offset;
    const uint64_t end = begin + request.Length();
    if (begin % bs == 0 && end % bs == 0) {
        inner_->Submit(std::move(request));
        return;
    }
    // The unwanted bytes before and after the caller's range land in one scratch block each.
    const uint64_t head_len = begin % bs;
    const uint64_t tail_len = RoundUp(end, bs) - end;
    auto scratch = std::make_shared<std::vector<std::byte>>(2 * bs);
    std::vector<iovec> iov;
    iov.reserve(request.iov.size() + 2);
    if (head_len) iov.push_back(Iov(scratch->data(), head_len));
    iov.insert(iov.end(), request.iov.begin(), request.iov.end());
    if (tail_len) iov.push_back(Iov(scratch->data() + bs, tail_len));

    IoRequest inner{IoOp::kRead, begin - head_len, std::move(iov), nullptr, request.flags};
    inner.done = [scratch, done = std::move(request.done)](Status s) { done(std::move(s)); };
    inner_->Submit(std::move(inner));
}

void RmwDevice::SubmitWrite(IoRequest request) {
    const uint64_t bs = BlockSize();
    auto write = std::make_shared<Write>();
    write->begin = request.offset;
    write->end = request.offset + request.Length();
    write->aligned_begin = RoundDown(write->begin, bs);
    write->aligned_end = RoundUp(write->end, bs);
    write->request = std::move(request);
    locks_.Acquire(write->aligned_begin, write->aligned_end,
                   [this, write](RangeLock::Ticket ticket) {
                       write->ticket = ticket;
                       ReadEdges(write);
                   });
}

void RmwDevice::ReadEdges(std::shared_ptr<Write> write) {
    const uint64_t bs = BlockSize();
    const bool head_partial = write->begin % bs != 0;
    const bool tail_partial = write->end % bs != 0;
    const bool one_block = write->aligned_end - write->aligned_begin == bs;

    std::vector<uint64_t> reads;  // offsets of the edge blocks to read
    if (head_partial || (one_block && tail_partial)) {
        write->head = std::make_unique<std::byte[]>(bs);
        reads.push_back(write->aligned_begin);
    }
    if (tail_partial && !one_block) {
        write->tail = std::make_unique<std::byte[]>(bs);
        reads.push_back(write->aligned_end - bs);
    }
    if (reads.empty()) {
        WriteMerged(std::move(write));
        return;
    }
    write->edge_reads = static_cast<int>(reads.size());
    for (uint64_t offset : reads) {
        std::byte* buf =
            offset == write->aligned_begin && write->head ? write->head.get() : write->tail.get();
        IoRequest edge{IoOp::kRead, offset, {Iov(buf, bs)}, nullptr};
        edge.done = [this, write](Status s) {
            if (!s.ok() && !write->edge_failed.exchange(true)) write->edge_status = std::move(s);
            if (write->edge_reads.fetch_sub(1) != 1) return;
            if (write->edge_failed) {
                Finish(write, std::move(write->edge_status));
            } else {
                WriteMerged(write);
            }
        };
        inner_->Submit(std::move(edge));
    }
}

void RmwDevice::WriteMerged(std::shared_ptr<Write> write) {
    const uint64_t bs = BlockSize();
    const uint64_t head_keep = write->begin - write->aligned_begin;
    const uint64_t tail_keep = write->aligned_end - write->end;
    std::vector<iovec> iov;
    iov.reserve(write->request.iov.size() + 2);
    if (head_keep) iov.push_back(Iov(write->head.get(), head_keep));
    iov.insert(iov.end(), write->request.iov.begin(), write->request.iov.end());
    if (tail_keep) {
        // The tail's old bytes come from the tail block, or from the head block when the write
        // lies inside a single block.
        std::byte* block = write->tail ? write->tail.get() : write->head.get();
        iov.push_back(Iov(block + (bs - tail_keep), tail_keep));
    }
    IoRequest merged{IoOp::kWrite, write->aligned_begin, std::move(iov), nullptr,
                     write->request.flags};
    merged.done = [this, write](Status s) { Finish(write, std::move(s)); };
    inner_->Submit(std::move(merged));
}

void RmwDevice::Finish(const std::shared_ptr<Write>& write, Status status) {
    locks_.Release(write->ticket);
    IoCallback done = std::move(write->request.done);
    done(std::move(status));
}

// One discard in flight: its lock ticket and the parts still under way.
struct RmwDevice::Discard {
    IoRequest request;
    uint64_t begin = 0;
    uint64_t end = 0;
    RangeLock::Ticket ticket = 0;
    std::atomic<int> parts{0};
    std::atomic<bool> failed{false};
    Status status;  // written by the first failing part, before its parts decrement
};

void RmwDevice::SubmitDiscard(IoRequest request) {
    if (!inner_->CanDiscard()) {
        request.done(Status::Fail(EOPNOTSUPP, "the LUN cannot discard blocks"));
        return;
    }
    const uint64_t bs = BlockSize();
    auto d = std::make_shared<Discard>();
    d->begin = request.offset;
    d->end = request.offset + request.Length();
    d->request = std::move(request);
    locks_.Acquire(
        RoundDown(d->begin, bs), RoundUp(d->end, bs), [this, d, bs](RangeLock::Ticket ticket) {
            d->ticket = ticket;
            const uint64_t whole_begin = RoundUp(d->begin, bs);
            const uint64_t whole_end = RoundDown(d->end, bs);
            std::vector<uint64_t> edges;  // blocks the discard covers only partly
            if (d->begin % bs != 0) edges.push_back(RoundDown(d->begin, bs));
            if (d->end % bs != 0 && (edges.empty() || edges.front() != RoundDown(d->end, bs))) {
                edges.push_back(RoundDown(d->end, bs));
            }
            const bool whole = whole_begin < whole_end;
            d->parts = static_cast<int>(edges.size()) + (whole ? 1 : 0);
            for (uint64_t block : edges) ZeroEdge(d, block);
            if (whole) {
                IoRequest inner{IoOp::kDiscard, whole_begin,      {},
                                nullptr,        d->request.flags, whole_end - whole_begin};
                inner.done = [this, d](Status s) { DiscardPartDone(d, std::move(s)); };
                inner_->Submit(std::move(inner));
            }
        });
}

// Reads the block at `block`, zeroes the part of it the discard covers and writes it back.
void RmwDevice::ZeroEdge(const std::shared_ptr<Discard>& d, uint64_t block) {
    const uint64_t bs = BlockSize();
    auto buffer = std::make_shared<std::vector<std::byte>>(bs);
    IoRequest read{IoOp::kRead, block, {Iov(buffer->data(), bs)}, nullptr};
    read.done = [this, d, block, bs, buffer](Status s) {
        if (!s.ok()) return DiscardPartDone(d, std::move(s));
        const uint64_t from = std::max(d->begin, block) - block;
        const uint64_t to = std::min(d->end, block + bs) - block;
        std::fill(buffer->begin() + static_cast<ptrdiff_t>(from),
                  buffer->begin() + static_cast<ptrdiff_t>(to), std::byte{0});
        IoRequest write{IoOp::kWrite,
                        block,
                        {Iov(buffer->data(), bs)},
                        nullptr,
                        d->request.flags | kIoWriteThrough};
        write.done = [this, d, buffer](Status ws) { DiscardPartDone(d, std::move(ws)); };
        inner_->Submit(std::move(write));
    };
    inner_->Submit(std::move(read));
}

void RmwDevice::DiscardPartDone(const std::shared_ptr<Discard>& d, Status status) {
    if (!status.ok() && !d->failed.exchange(true)) d->status = std::move(status);
    if (d->parts.fetch_sub(1) != 1) return;
    locks_.Release(d->ticket);
    IoCallback done = std::move(d->request.done);
    done(d->failed ? std::move(d->status) : Status::Ok());
}

}  // namespace lunfs
