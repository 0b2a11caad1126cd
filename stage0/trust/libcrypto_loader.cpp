// libcrypto on demand. Mapping and relocating libcrypto.so at every start of rkt costs some 120
// page faults (its method tables), half a millisecond here, although only signatures
// (stage0/trust) and registry logins (stage0/registry/auth.cpp) use it; digests use Nettle. These
// definitions of the OpenSSL calls those make load libcrypto.so.3 at the first call and forward
// to it, as stage0/registry/curl_loader.cpp does for libcurl (docs/performance.md). rkt links no
// libcrypto, so an OpenSSL call that is not listed here fails to link: add it below.
#include <dlfcn.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string>

#include "common/error.h"

namespace {

constexpr const char* kLibcrypto = "libcrypto.so.3";

void* libcrypto() {
    // Loaded once, by whichever thread gets here first; it stays for the life of the process.
    static void* const lib = [] {
        void* handle = ::dlopen(kLibcrypto, RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
            const char* why = ::dlerror();
            throw rkt::Error(std::string("cannot load ") + kLibcrypto +
                             ", which signatures and registry logins need (install the "
                             "libssl3 package): " +
                             (why ? why : "unknown error"));
        }
        return handle;
    }();
    return lib;
}

void* symbol(const char* name) {
    void* fn = ::dlsym(libcrypto(), name);
    if (!fn)
        throw rkt::Error(std::string(kLibcrypto) + " has no " + name + "; rkt needs OpenSSL 3");
    return fn;
}

}  // namespace

// Defines `name` with the library's own prototype; it forwards to the library's function.
#define RKT_FORWARD(ret, name, params, args)                                     \
    extern "C" ret name params {                                                 \
        static const auto real = reinterpret_cast<ret(*) params>(symbol(#name)); \
        return real args;                                                        \
    }

RKT_FORWARD(long, BIO_ctrl, (BIO * b, int cmd, long larg, void* parg), (b, cmd, larg, parg))
RKT_FORWARD(int, BIO_free, (BIO * b), (b))
RKT_FORWARD(BIO*, BIO_new, (const BIO_METHOD* type), (type))
RKT_FORWARD(BIO*, BIO_new_mem_buf, (const void* buf, int len), (buf, len))
RKT_FORWARD(const BIO_METHOD*, BIO_s_mem, (void), ())
RKT_FORWARD(void, CRYPTO_free, (void* p, const char* file, int line), (p, file, line))
RKT_FORWARD(int, EVP_DecodeBlock, (unsigned char* t, const unsigned char* f, int n), (t, f, n))
RKT_FORWARD(int, EVP_EncodeBlock, (unsigned char* t, const unsigned char* f, int n), (t, f, n))
RKT_FORWARD(int, EVP_DigestSign,
            (EVP_MD_CTX * ctx, unsigned char* sig, size_t* siglen, const unsigned char* tbs,
             size_t tbslen),
            (ctx, sig, siglen, tbs, tbslen))
RKT_FORWARD(int, EVP_DigestSignInit,
            (EVP_MD_CTX * ctx, EVP_PKEY_CTX** pctx, const EVP_MD* type, ENGINE* e, EVP_PKEY* pkey),
            (ctx, pctx, type, e, pkey))
RKT_FORWARD(int, EVP_DigestVerify,
            (EVP_MD_CTX * ctx, const unsigned char* sig, size_t siglen, const unsigned char* tbs,
             size_t tbslen),
            (ctx, sig, siglen, tbs, tbslen))
RKT_FORWARD(int, EVP_DigestVerifyInit,
            (EVP_MD_CTX * ctx, EVP_PKEY_CTX** pctx, const EVP_MD* type, ENGINE* e, EVP_PKEY* pkey),
            (ctx, pctx, type, e, pkey))
RKT_FORWARD(EVP_MD_CTX*, EVP_MD_CTX_new, (void), ())
RKT_FORWARD(void, EVP_MD_CTX_free, (EVP_MD_CTX * ctx), (ctx))
RKT_FORWARD(void, EVP_PKEY_free, (EVP_PKEY * pkey), (pkey))
RKT_FORWARD(int, EVP_PKEY_get_utf8_string_param,
            (const EVP_PKEY* pkey, const char* key_name, char* str, size_t max_buf_sz,
             size_t* out_sz),
            (pkey, key_name, str, max_buf_sz, out_sz))
RKT_FORWARD(int, EVP_PKEY_is_a, (const EVP_PKEY* pkey, const char* name), (pkey, name))
RKT_FORWARD(const EVP_MD*, EVP_sha256, (void), ())
RKT_FORWARD(EVP_PKEY*, PEM_read_bio_PUBKEY, (BIO * bp, EVP_PKEY** x, pem_password_cb* cb, void* u),
            (bp, x, cb, u))
RKT_FORWARD(EVP_PKEY*, PEM_read_bio_PrivateKey,
            (BIO * bp, EVP_PKEY** x, pem_password_cb* cb, void* u), (bp, x, cb, u))
RKT_FORWARD(int, PEM_write_bio_PUBKEY, (BIO * bp, const EVP_PKEY* x), (bp, x))
RKT_FORWARD(int, i2d_PUBKEY, (const EVP_PKEY* a, unsigned char** pp), (a, pp))
