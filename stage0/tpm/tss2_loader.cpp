// tpm2-tss on demand: rkt links no tss2 library, so a pod that measures nothing maps none of it
// (and its libcrypto). These definitions of the tss2 calls TpmDevice makes open the library that
// holds each one at its first call and forward to it (as stage0/trust/libcrypto_loader.cpp does
// for libcrypto). A tss2 call that is not listed here fails to link: add it below.
#include <dlfcn.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <array>
#include <mutex>
#include <string>
#include <type_traits>

#include "common/error.h"

namespace {

enum class Lib { kEsys, kTctiLdr, kMu, kRc };

struct LibInfo {
    const char* soname;
    const char* package;  // Debian 12's package that ships it
};

constexpr std::array<LibInfo, 4> kLibs = {{
    {"libtss2-esys.so.0", "libtss2-esys-3.0.2-0"},
    {"libtss2-tctildr.so.0", "libtss2-tctildr0"},
    {"libtss2-mu.so.0", "libtss2-mu0"},
    {"libtss2-rc.so.0", "libtss2-rc0"},
}};

void* open_lib(const LibInfo& info) {
    void* handle = ::dlopen(info.soname, RTLD_NOW | RTLD_LOCAL);
    if (handle) return handle;
    const char* why = ::dlerror();
    throw rkt::Error(std::string("cannot load ") + info.soname +
                     ", which TPM measurements need (install the " + info.package +
                     " package): " + (why ? why : "unknown error"));
}

void* lib_symbol(Lib lib, const char* name) {
    // Each library is opened once, by whichever thread needs it first, and stays for the life
    // of the process; a failed open is tried again at the next call.
    static std::mutex mutex;
    static std::array<void*, kLibs.size()> handles{};
    const auto index = static_cast<size_t>(lib);
    void* handle = nullptr;
    {
        const std::lock_guard lock(mutex);
        if (!handles.at(index)) handles.at(index) = open_lib(kLibs.at(index));
        handle = handles.at(index);
    }
    void* fn = ::dlsym(handle, name);
    if (!fn) throw rkt::Error(std::string(kLibs.at(index).soname) + " has no " + name);
    return fn;
}

}  // namespace

// Defines `name` with the library's own prototype (the header's declaration checks it); it
// forwards to the library's function.
#define RKT_TSS2(lib, ret, name, params, args)                                                  \
    extern "C" ret name params {                                                                \
        static const auto real = reinterpret_cast<decltype(&(name))>(lib_symbol((lib), #name)); \
        return real args;                                                                       \
    }

#define RKT_ESYS(name, params, args) RKT_TSS2(Lib::kEsys, TSS2_RC, name, params, args)
#define RKT_MU(name, params, args) RKT_TSS2(Lib::kMu, TSS2_RC, name, params, args)

RKT_TSS2(Lib::kTctiLdr, TSS2_RC, Tss2_TctiLdr_Initialize,
         (const char* name_conf, TSS2_TCTI_CONTEXT** context), (name_conf, context))
RKT_TSS2(Lib::kTctiLdr, void, Tss2_TctiLdr_Finalize, (TSS2_TCTI_CONTEXT * *context), (context))
RKT_TSS2(Lib::kRc, const char*, Tss2_RC_Decode, (TSS2_RC rc), (rc))
RKT_TSS2(Lib::kEsys, void, Esys_Finalize, (ESYS_CONTEXT * *context), (context))
RKT_TSS2(Lib::kEsys, void, Esys_Free, (void* ptr), (ptr))

RKT_ESYS(Esys_Initialize,
         (ESYS_CONTEXT * *context, TSS2_TCTI_CONTEXT* tcti, TSS2_ABI_VERSION* abi_version),
         (context, tcti, abi_version))
RKT_ESYS(Esys_Startup, (ESYS_CONTEXT * ctx, TPM2_SU startup_type), (ctx, startup_type))
RKT_ESYS(Esys_FlushContext, (ESYS_CONTEXT * ctx, ESYS_TR handle), (ctx, handle))
RKT_ESYS(Esys_GetCapability,
         (ESYS_CONTEXT * ctx, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3, TPM2_CAP capability,
          UINT32 property, UINT32 count, TPMI_YES_NO* more, TPMS_CAPABILITY_DATA** data),
         (ctx, s1, s2, s3, capability, property, count, more, data))
RKT_ESYS(Esys_PCR_Read,
         (ESYS_CONTEXT * ctx, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3, const TPML_PCR_SELECTION* in,
          UINT32* update_counter, TPML_PCR_SELECTION** out, TPML_DIGEST** values),
         (ctx, s1, s2, s3, in, update_counter, out, values))
RKT_ESYS(Esys_PCR_Extend,
         (ESYS_CONTEXT * ctx, ESYS_TR pcr, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
          const TPML_DIGEST_VALUES* digests),
         (ctx, pcr, s1, s2, s3, digests))
RKT_ESYS(Esys_ReadClock,
         (ESYS_CONTEXT * ctx, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3, TPMS_TIME_INFO** time),
         (ctx, s1, s2, s3, time))
RKT_ESYS(Esys_CreatePrimary,
         (ESYS_CONTEXT * ctx, ESYS_TR hierarchy, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
          const TPM2B_SENSITIVE_CREATE* sensitive, const TPM2B_PUBLIC* in_public,
          const TPM2B_DATA* outside, const TPML_PCR_SELECTION* creation_pcr, ESYS_TR* handle,
          TPM2B_PUBLIC** out_public, TPM2B_CREATION_DATA** creation_data,
          TPM2B_DIGEST** creation_hash, TPMT_TK_CREATION** ticket),
         (ctx, hierarchy, s1, s2, s3, sensitive, in_public, outside, creation_pcr, handle,
          out_public, creation_data, creation_hash, ticket))
RKT_ESYS(Esys_Create,
         (ESYS_CONTEXT * ctx, ESYS_TR parent, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
          const TPM2B_SENSITIVE_CREATE* sensitive, const TPM2B_PUBLIC* in_public,
          const TPM2B_DATA* outside, const TPML_PCR_SELECTION* creation_pcr,
          TPM2B_PRIVATE** out_private, TPM2B_PUBLIC** out_public,
          TPM2B_CREATION_DATA** creation_data, TPM2B_DIGEST** creation_hash,
          TPMT_TK_CREATION** ticket),
         (ctx, parent, s1, s2, s3, sensitive, in_public, outside, creation_pcr, out_private,
          out_public, creation_data, creation_hash, ticket))
RKT_ESYS(Esys_Load,
         (ESYS_CONTEXT * ctx, ESYS_TR parent, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
          const TPM2B_PRIVATE* in_private, const TPM2B_PUBLIC* in_public, ESYS_TR* handle),
         (ctx, parent, s1, s2, s3, in_private, in_public, handle))
RKT_ESYS(Esys_Quote,
         (ESYS_CONTEXT * ctx, ESYS_TR key, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
          const TPM2B_DATA* qualifying, const TPMT_SIG_SCHEME* scheme,
          const TPML_PCR_SELECTION* selection, TPM2B_ATTEST** quoted, TPMT_SIGNATURE** signature),
         (ctx, key, s1, s2, s3, qualifying, scheme, selection, quoted, signature))

// The marshaling calls differ only in the type they take.
#define RKT_MU_MARSHAL(type)                                                 \
    RKT_MU(Tss2_MU_##type##_Marshal,                                         \
           (type const* src, uint8_t buffer[], size_t size, size_t* offset), \
           (src, buffer, size, offset))
#define RKT_MU_UNMARSHAL(type)                                                                   \
    RKT_MU(Tss2_MU_##type##_Unmarshal,                                                           \
           (uint8_t const buffer[], size_t size, size_t* offset, std::add_pointer_t<type> dest), \
           (buffer, size, offset, dest))

RKT_MU_MARSHAL(TPMT_PUBLIC)
RKT_MU_MARSHAL(TPM2B_PUBLIC)
RKT_MU_UNMARSHAL(TPM2B_PUBLIC)
RKT_MU_MARSHAL(TPM2B_PRIVATE)
RKT_MU_UNMARSHAL(TPM2B_PRIVATE)
RKT_MU_MARSHAL(TPMT_SIGNATURE)
