#include "vmm/arch/x86/kernel_loader.h"

#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "common/error.h"
#include "common/io.h"
#include "vmm/arch/x86/layout.h"
#include "vmm/arch/x86/zero_page.h"

namespace rkt::vmm::x86 {
namespace {

constexpr uint32_t kXenElfNotePhys32Entry = 18;
constexpr size_t kMaxProgramHeaders = 64;
constexpr size_t kMaxNoteSegment = size_t{64} * 1024;
constexpr uint16_t kMinBzImageVersion = 0x020c;  // xloadflags exist from 2.12 on

uint64_t file_size(int fd) {
    struct stat st {};
    check_sys(::fstat(fd, &st), "stat");
    if (!S_ISREG(st.st_mode)) throw Error("is not a regular file");
    return static_cast<uint64_t>(st.st_size);
}

// Reads exactly out.size() bytes at `offset`.
void pread_exact(int fd, std::span<uint8_t> out, uint64_t offset) {
    size_t done = 0;
    while (done < out.size()) {
        ssize_t n = io::retry_eintr([&] {
            return ::pread(fd, out.data() + done, out.size() - done,
                           static_cast<off_t>(offset + done));
        });
        if (n < 0) throw system_error("read");
        if (n == 0) throw Error("is truncated");
        done += static_cast<size_t>(n);
    }
}

// Copies file bytes [offset, offset + length) to guest address `address`.
void copy_to_guest(int fd, uint64_t offset, uint64_t length, const GuestMemory& memory,
                   uint64_t address) {
    auto dest = memory.slice(address, length);
    if (!dest) throw Error("has a segment outside guest memory");
    pread_exact(fd, *dest, offset);
}

bool range_in_file(uint64_t offset, uint64_t length, uint64_t size) {
    return offset <= size && length <= size - offset;
}

std::optional<uint64_t> find_pvh_entry(std::span<const uint8_t> notes) {
    size_t pos = 0;
    auto align4 = [](uint64_t v) { return (v + 3) & ~uint64_t{3}; };
    while (pos + sizeof(Elf64_Nhdr) <= notes.size()) {
        Elf64_Nhdr note;
        std::memcpy(&note, notes.data() + pos, sizeof note);
        pos += sizeof note;
        uint64_t name_len = align4(note.n_namesz), desc_len = align4(note.n_descsz);
        if (name_len > notes.size() - pos || desc_len > notes.size() - pos - name_len) break;
        const uint8_t* name = notes.data() + pos;
        const uint8_t* desc = name + name_len;
        if (note.n_type == kXenElfNotePhys32Entry && note.n_namesz == 4 &&
            std::memcmp(name, "Xen", 4) == 0) {
            if (note.n_descsz == 4) {
                uint32_t v;
                std::memcpy(&v, desc, 4);
                return v;
            }
            if (note.n_descsz == 8) {
                uint64_t v;
                std::memcpy(&v, desc, 8);
                return v;
            }
        }
        pos += name_len + desc_len;
    }
    return std::nullopt;
}

LoadedKernel load_elf(int fd, uint64_t size, const GuestMemory& memory) {
    Elf64_Ehdr eh;
    if (size < sizeof eh) throw Error("is too small for an ELF header");
    pread_exact(fd, {reinterpret_cast<uint8_t*>(&eh), sizeof eh}, 0);
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
        eh.e_machine != EM_X86_64)
        throw Error("is not a 64-bit x86 ELF kernel");
    if (eh.e_type != ET_EXEC) throw Error("is an ELF file but not an executable kernel");
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
        eh.e_phnum > kMaxProgramHeaders ||
        !range_in_file(eh.e_phoff, uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr), size))
        throw Error("has a malformed ELF program header table");

    std::vector<Elf64_Phdr> headers(eh.e_phnum);
    pread_exact(fd,
                {reinterpret_cast<uint8_t*>(headers.data()), headers.size() * sizeof(Elf64_Phdr)},
                eh.e_phoff);

    LoadedKernel k;
    k.format = KernelFormat::kElf;
    bool loaded_any = false;
    for (const auto& ph : headers) {
        if (ph.p_type == PT_LOAD) {
            if (ph.p_filesz > ph.p_memsz || !range_in_file(ph.p_offset, ph.p_filesz, size))
                throw Error("has a PT_LOAD segment that does not fit its file");
            if (ph.p_paddr < kHighMemoryStart || !memory.contains(ph.p_paddr, ph.p_memsz))
                throw Error("has a segment at physical address 0x" + [&] {
                    char b[20];
                    std::snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(ph.p_paddr));
                    return std::string(b);
                }() + " outside guest RAM above 1 MiB (give the VM more memory?)");
            copy_to_guest(fd, ph.p_offset, ph.p_filesz, memory, ph.p_paddr);
            auto bss = memory.slice(ph.p_paddr + ph.p_filesz, ph.p_memsz - ph.p_filesz);
            std::fill(bss->begin(), bss->end(), 0);
            k.image_end = std::max(k.image_end, ph.p_paddr + ph.p_memsz);
            loaded_any = true;
        } else if (ph.p_type == PT_NOTE && !k.pvh_entry) {
            if (ph.p_filesz > kMaxNoteSegment || !range_in_file(ph.p_offset, ph.p_filesz, size))
                continue;
            std::vector<uint8_t> notes(ph.p_filesz);
            pread_exact(fd, notes, ph.p_offset);
            k.pvh_entry = find_pvh_entry(notes);
        }
    }
    if (!loaded_any) throw Error("has no loadable segment");
    // vmlinux's entry is the physical address of startup_64.
    if (eh.e_entry >= kIdentityMappedSize || !memory.contains(eh.e_entry, 1))
        throw Error("has an entry point outside the identity-mapped guest RAM");
    k.entry_64 = eh.e_entry;
    if (k.pvh_entry && (*k.pvh_entry >= kMmioHoleStart || !memory.contains(*k.pvh_entry, 1)))
        k.pvh_entry.reset();
    return k;
}

LoadedKernel load_bzimage(int fd, uint64_t size, const GuestMemory& memory) {
    std::array<uint8_t, zp::kSetupHeaderMaxEnd> head{};
    if (size < head.size()) throw Error("is neither an ELF vmlinux nor a bzImage (too small)");
    pread_exact(fd, head, 0);
    auto get16 = [&](size_t o) {
        uint16_t v;
        std::memcpy(&v, &head[o], 2);
        return v;
    };
    auto get32 = [&](size_t o) {
        uint32_t v;
        std::memcpy(&v, &head[o], 4);
        return v;
    };
    if (get16(zp::kBootFlag) != zp::kBootFlagValue ||
        get32(zp::kHeaderMagic) != zp::kHeaderMagicValue)
        throw Error("is neither an ELF vmlinux nor a bzImage");
    uint16_t version = get16(zp::kVersion);
    if (version < kMinBzImageVersion || (get16(zp::kXLoadFlags) & zp::kXlfKernel64) == 0)
        throw Error("is a bzImage without a 64-bit entry point (boot protocol 2.12+ needed)");

    uint64_t setup_sects = head[zp::kSetupSects] ? head[zp::kSetupSects] : 4;
    uint64_t kernel_offset = (setup_sects + 1) * 512;
    if (kernel_offset >= size) throw Error("is a truncated bzImage");
    uint64_t kernel_size = size - kernel_offset;
    uint64_t load = kBzImageLoadAddress;
    uint64_t needed = std::max<uint64_t>(kernel_size, get32(zp::kInitSize));
    if (!memory.contains(load, needed) || load + needed > kIdentityMappedSize)
        throw Error("needs more guest memory than the VM has");
    copy_to_guest(fd, kernel_offset, kernel_size, memory, load);

    LoadedKernel k;
    k.format = KernelFormat::kBzImage;
    k.entry_64 = load + 0x200;
    k.image_end = load + needed;
    // The header runs from 0x1f1 to 0x202 plus the jump offset stored at 0x201.
    size_t header_end = std::min<size_t>(0x202 + head[0x201], zp::kSetupHeaderMaxEnd);
    k.setup_header.assign(head.begin() + zp::kSetupHeader, head.begin() + header_end);
    k.initrd_address_max = get32(zp::kInitrdAddrMax);
    uint32_t cmdline_size = get32(zp::kCmdlineSize);
    if (cmdline_size > 0)
        k.command_line_max = std::min<uint32_t>(cmdline_size + 1, kCommandLineMax);
    return k;
}

}  // namespace

LoadedKernel load_kernel(int fd, const GuestMemory& memory) {
    uint64_t size = file_size(fd);
    std::array<uint8_t, 4> magic{};
    if (size >= magic.size()) pread_exact(fd, magic, 0);
    if (std::memcmp(magic.data(), ELFMAG, SELFMAG) == 0) return load_elf(fd, size, memory);
    return load_bzimage(fd, size, memory);
}

LoadedInitrd load_initrd(int fd, const GuestMemory& memory, uint64_t lowest, uint64_t highest_end) {
    uint64_t size = file_size(fd);
    if (size == 0) throw Error("is empty");
    uint64_t top = highest_end & ~(kPageSize - 1);
    if (size > top || ((top - size) & ~(kPageSize - 1)) < lowest)
        throw Error("does not fit in guest memory above the kernel (give the VM more memory)");
    uint64_t address = (top - size) & ~(kPageSize - 1);
    copy_to_guest(fd, 0, size, memory, address);
    return {address, size};
}

}  // namespace rkt::vmm::x86
