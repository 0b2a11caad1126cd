// Small synthetic kernel images built byte by byte for the loader tests.
#pragma once

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

namespace rkt::vmm::test {

struct ElfSegment {
    uint64_t paddr;
    std::vector<uint8_t> data;
    uint64_t memsz;  // >= data.size(): the rest is bss
};

inline std::vector<uint8_t> make_elf(uint64_t entry, const std::vector<ElfSegment>& segments,
                                     std::optional<uint64_t> pvh_entry = std::nullopt) {
    size_t phnum = segments.size() + (pvh_entry ? 1 : 0);
    std::vector<uint8_t> out(sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr));
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_entry = entry;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = static_cast<uint16_t>(phnum);
    std::memcpy(out.data(), &eh, sizeof eh);
    size_t ph_offset = sizeof(Elf64_Ehdr);
    for (const auto& s : segments) {
        Elf64_Phdr ph{};
        ph.p_type = PT_LOAD;
        ph.p_offset = out.size();
        ph.p_paddr = ph.p_vaddr = s.paddr;
        ph.p_filesz = s.data.size();
        ph.p_memsz = s.memsz;
        ph.p_flags = PF_R | PF_X;
        out.insert(out.end(), s.data.begin(), s.data.end());
        std::memcpy(out.data() + ph_offset, &ph, sizeof ph);
        ph_offset += sizeof ph;
    }
    if (pvh_entry) {
        Elf64_Nhdr nh{4, 8, 18};
        std::vector<uint8_t> note(sizeof nh + 4 + 8);
        std::memcpy(note.data(), &nh, sizeof nh);
        std::memcpy(note.data() + sizeof nh, "Xen", 4);
        std::memcpy(note.data() + sizeof nh + 4, &*pvh_entry, 8);
        Elf64_Phdr ph{};
        ph.p_type = PT_NOTE;
        ph.p_offset = out.size();
        ph.p_filesz = note.size();
        out.insert(out.end(), note.begin(), note.end());
        std::memcpy(out.data() + ph_offset, &ph, sizeof ph);
    }
    return out;
}

// A bzImage: boot sector + `setup_sects` setup sectors with the header, then `payload`.
inline std::vector<uint8_t> make_bzimage(const std::vector<uint8_t>& payload,
                                         uint16_t version = 0x020f, uint16_t xloadflags = 1,
                                         uint32_t init_size = 0, uint8_t setup_sects = 4) {
    std::vector<uint8_t> out((setup_sects + 1) * 512, 0);
    auto put16 = [&](size_t o, uint16_t v) { std::memcpy(&out[o], &v, 2); };
    auto put32 = [&](size_t o, uint32_t v) { std::memcpy(&out[o], &v, 4); };
    out[0x1f1] = setup_sects;
    put16(0x1fe, 0xaa55);
    out[0x200] = 0xeb;  // jmp over the header
    out[0x201] = 0x66;  // header runs to 0x202 + 0x66 = 0x268
    put32(0x202, 0x53726448);
    put16(0x206, version);
    put32(0x214, 0x100000);
    put32(0x22c, 0x7fffffff);
    put32(0x230, 0x200000);
    put16(0x236, xloadflags);
    put32(0x238, 2047);
    put32(0x260, init_size);
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

}  // namespace rkt::vmm::test
