#include "tests/integration/checker/ledger.h"

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace lunfs::check {

namespace {

constexpr uint64_t kFileMagic = 0x31726567646563ull;  // "cedger1"

template <typename T>
void Put(std::ofstream& out, const T& v) {
    out.write(reinterpret_cast<const char*>(&v), sizeof(v));
}
template <typename T>
bool Get(std::ifstream& in, T& v) {
    return static_cast<bool>(in.read(reinterpret_cast<char*>(&v), sizeof(v)));
}

}  // namespace

Ledger::Ledger(uint64_t first_block, std::vector<uint32_t> owners, uint64_t run)
    : first_(first_block),
      owners_(std::move(owners)),
      run_(run),
      state_(new Block[owners_.size()]) {}

void Ledger::Issue(uint64_t block, uint32_t n, uint64_t gen) {
    for (uint64_t b = block; b < block + n; ++b) {
        state_[b - first_].issued.store(gen, std::memory_order_release);
    }
}

void Ledger::Ack(uint64_t block, uint32_t n, uint64_t gen) {
    for (uint64_t b = block; b < block + n; ++b) {
        state_[b - first_].floor.store(gen, std::memory_order_release);
    }
}

uint64_t Ledger::Floor(uint64_t block) const {
    return state_[block - first_].floor.load(std::memory_order_acquire);
}

uint64_t Ledger::Issued(uint64_t block) const {
    return state_[block - first_].issued.load(std::memory_order_acquire);
}

void Ledger::Log(const WriteRecord& r) {
    std::lock_guard lock(mu_);
    records_.push_back(r);
}

void Ledger::Seal() {
    std::lock_guard lock(mu_);
    std::sort(records_.begin(), records_.end(),
              [](const WriteRecord& a, const WriteRecord& b) { return a.gen < b.gen; });
    sealed_ = true;
}

std::optional<WriteRecord> Ledger::Find(uint64_t gen) const {
    std::lock_guard lock(mu_);
    if (sealed_) {
        auto it = std::lower_bound(records_.begin(), records_.end(), gen,
                                   [](const WriteRecord& r, uint64_t g) { return r.gen < g; });
        if (it != records_.end() && it->gen == gen) return *it;
        return std::nullopt;
    }
    for (const WriteRecord& r : records_) {
        if (r.gen == gen) return r;
    }
    return std::nullopt;
}

size_t Ledger::Writes() const {
    std::lock_guard lock(mu_);
    return records_.size();
}

size_t Ledger::FailedWrites() const {
    std::lock_guard lock(mu_);
    return std::count_if(records_.begin(), records_.end(),
                         [](const WriteRecord& r) { return r.error != 0; });
}

bool Ledger::Save(const std::string& path) const {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    Put(out, kFileMagic);
    Put(out, first_);
    Put(out, run_);
    Put(out, static_cast<uint64_t>(owners_.size()));
    for (uint64_t i = 0; i < owners_.size(); ++i) {
        Put(out, owners_[i]);
        Put(out, state_[i].floor.load());
        Put(out, state_[i].issued.load());
    }
    std::lock_guard lock(mu_);
    Put(out, static_cast<uint64_t>(records_.size()));
    for (const WriteRecord& r : records_) Put(out, r);
    return static_cast<bool>(out.flush());
}

std::unique_ptr<Ledger> Ledger::Load(const std::string& path, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    uint64_t magic = 0, first = 0, run = 0, blocks = 0, records = 0;
    if (!Get(in, magic) || magic != kFileMagic || !Get(in, first) || !Get(in, run) ||
        !Get(in, blocks) || blocks > (1ull << 32)) {
        error = path + ": not a checker ledger";
        return nullptr;
    }
    std::vector<uint32_t> owners(blocks);
    std::vector<uint64_t> floors(blocks), issued(blocks);
    for (uint64_t i = 0; i < blocks; ++i) {
        if (!Get(in, owners[i]) || !Get(in, floors[i]) || !Get(in, issued[i])) {
            error = path + ": truncated";
            return nullptr;
        }
    }
    auto ledger = std::make_unique<Ledger>(first, std::move(owners), run);
    for (uint64_t i = 0; i < blocks; ++i) {
        ledger->state_[i].floor = floors[i];
        ledger->state_[i].issued = issued[i];
    }
    if (!Get(in, records)) records = 0;
    WriteRecord r;
    for (uint64_t i = 0; i < records && Get(in, r); ++i) ledger->records_.push_back(r);
    ledger->Seal();
    return ledger;
}

}  // namespace lunfs::check
