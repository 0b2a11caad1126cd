#include "vmm/arch/x86/mptable.h"

#include <cstring>
#include <string>
#include <tuple>

#include "common/error.h"
#include "vmm/arch/x86/layout.h"

namespace rkt::vmm::x86 {
namespace {

constexpr uint8_t kEntryProcessor = 0, kEntryBus = 1, kEntryIoapic = 2, kEntryIoInterrupt = 3,
                  kEntryLocalInterrupt = 4;
constexpr uint8_t kInterruptInt = 0, kInterruptNmi = 1, kInterruptExtInt = 3;
constexpr uint8_t kCpuEnabled = 1, kCpuBootProcessor = 2;
constexpr uint8_t kApicVersion = 0x14, kIoapicVersion = 0x11;
constexpr uint8_t kSpecRevision = 4;

class Bytes {
public:
    void u8(uint8_t v) { data.push_back(v); }
    void u16(uint16_t v) { raw(&v, 2); }
    void u32(uint32_t v) { raw(&v, 4); }
    void text(const char* s, size_t n) {
        std::string padded(s);
        padded.resize(n, ' ');
        raw(padded.data(), n);
    }
    void raw(const void* p, size_t n) {
        auto* b = static_cast<const uint8_t*>(p);
        data.insert(data.end(), b, b + n);
    }
    std::vector<uint8_t> data;
};

uint8_t checksum(const uint8_t* p, size_t n) {
    uint8_t sum = 0;
    for (size_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + p[i]);
    return static_cast<uint8_t>(-sum);
}

}  // namespace

std::vector<uint8_t> build_mptable(uint64_t address, uint32_t vcpu_count) {
    if (vcpu_count == 0 || vcpu_count > kMaxVcpus)
        throw Error("the MP table supports 1 to " + std::to_string(kMaxVcpus) + " vCPUs");
    const uint8_t ioapic_id = static_cast<uint8_t>(vcpu_count);
    const uint64_t table_address = address + 16;

    Bytes t;  // configuration table
    t.raw("PCMP", 4);
    t.u16(0);  // base table length, patched below
    t.u8(kSpecRevision);
    t.u8(0);  // checksum, patched below
    t.text("RKT", 8);
    t.text("RKTVM", 12);
    t.u32(0);  // OEM table pointer
    t.u16(0);  // OEM table size
    t.u16(0);  // entry count, patched below
    t.u32(static_cast<uint32_t>(kLapicAddress));
    t.u16(0);  // extended table length
    t.u8(0);   // extended table checksum
    t.u8(0);
    uint16_t entries = 0;

    for (uint32_t cpu = 0; cpu < vcpu_count; ++cpu) {
        t.u8(kEntryProcessor);
        t.u8(static_cast<uint8_t>(cpu));  // local APIC id
        t.u8(kApicVersion);
        t.u8(kCpuEnabled | (cpu == 0 ? kCpuBootProcessor : 0));
        t.u32(0x600);  // signature: family 6
        t.u32(0x201);  // features: FPU, APIC
        t.u32(0);
        t.u32(0);
        ++entries;
    }
    t.u8(kEntryBus);
    t.u8(0);
    t.text("ISA", 6);
    ++entries;
    t.u8(kEntryIoapic);
    t.u8(ioapic_id);
    t.u8(kIoapicVersion);
    t.u8(1);  // enabled
    t.u32(static_cast<uint32_t>(kIoapicAddress));
    ++entries;
    // ISA line i reaches IOAPIC pin i, with the bus's default polarity and trigger (edge, high).
    for (uint8_t irq = 0; irq < kIoapicPins; ++irq) {
        t.u8(kEntryIoInterrupt);
        t.u8(kInterruptInt);
        t.u16(0);
        t.u8(0);  // source bus
        t.u8(irq);
        t.u8(ioapic_id);
        t.u8(irq);
        ++entries;
    }
    // LINT0 carries the PIC (ExtINT), LINT1 the NMI, as the vCPUs' LAPICs are programmed.
    for (auto [type, dest_apic, lint] :
         {std::tuple<uint8_t, uint8_t, uint8_t>{kInterruptExtInt, 0, 0},
          {kInterruptNmi, 0xff, 1}}) {
        t.u8(kEntryLocalInterrupt);
        t.u8(type);
        t.u16(0);
        t.u8(0);
        t.u8(0);
        t.u8(dest_apic);
        t.u8(lint);
        ++entries;
    }
    uint16_t length = static_cast<uint16_t>(t.data.size());
    std::memcpy(&t.data[4], &length, 2);
    std::memcpy(&t.data[34], &entries, 2);
    t.data[7] = checksum(t.data.data(), t.data.size());

    Bytes f;  // floating pointer structure
    f.raw("_MP_", 4);
    f.u32(static_cast<uint32_t>(table_address));
    f.u8(1);  // length in 16-byte units
    f.u8(kSpecRevision);
    f.u8(0);  // checksum, patched below
    f.u8(0);  // no default configuration: the table is present
    f.u32(0);
    f.data[10] = checksum(f.data.data(), f.data.size());

    std::vector<uint8_t> out = std::move(f.data);
    out.insert(out.end(), t.data.begin(), t.data.end());
    return out;
}

void write_mptable(const GuestMemory& memory, uint32_t vcpu_count) {
    auto table = build_mptable(kEbdaAddress, vcpu_count);
    if (kEbdaAddress + table.size() > 0xa0000 || !memory.write(kEbdaAddress, table))
        throw Error("the MP table does not fit in guest base memory");
}

}  // namespace rkt::vmm::x86
