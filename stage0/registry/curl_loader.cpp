// libcurl on demand. rkt does not link libcurl: with its TLS, Kerberos, LDAP, IDN and HTTP/2
// libraries it is some 25 shared objects, whose mapping and relocation cost more at every start
// of rkt than a whole `rkt run` of a cached image does otherwise (docs/performance.md). Only
// fetches from a registry need it, so these definitions of the libcurl calls that
// http_client.cpp makes load libcurl.so.4 on the first call and forward to it.
#define CURL_DISABLE_TYPECHECK  // curl_easy_setopt is defined here, not type-checked by a macro
#include <curl/curl.h>
#include <dlfcn.h>

#include <cstdarg>
#include <string>

#include "common/error.h"

namespace {

constexpr const char* kLibcurl = "libcurl.so.4";

using VoidFn = void (*)();

struct Libcurl {
    CURLcode (*global_init)(long);
    CURL* (*easy_init)();
    void (*easy_cleanup)(CURL*);
    void (*easy_reset)(CURL*);
    CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
    CURLcode (*easy_perform)(CURL*);
    const char* (*easy_strerror)(CURLcode);
    curl_slist* (*slist_append)(curl_slist*, const char*);
    void (*slist_free_all)(curl_slist*);
    void (*free)(void*);
    CURLU* (*url)();
    void (*url_cleanup)(CURLU*);
    CURLUcode (*url_get)(CURLU*, CURLUPart, char**, unsigned int);
    CURLUcode (*url_set)(CURLU*, CURLUPart, const char*, unsigned int);
};

template <class Fn>
void bind(void* lib, Fn& fn, const char* name) {
    fn = reinterpret_cast<Fn>(::dlsym(lib, name));
    if (!fn)
        throw rkt::Error(std::string(kLibcurl) + " has no " + name +
                         "; rkt needs libcurl 7.85 or later");
}

Libcurl load() {
    // RTLD_LOCAL: libcurl's symbols serve only the calls below.
    void* lib = ::dlopen(kLibcurl, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char* why = ::dlerror();
        throw rkt::Error(
            std::string("cannot load ") + kLibcurl + ", which fetching from a " +
            "registry needs (install the libcurl4 package): " + (why ? why : "unknown error"));
    }
    Libcurl c{};
    bind(lib, c.global_init, "curl_global_init");
    bind(lib, c.easy_init, "curl_easy_init");
    bind(lib, c.easy_cleanup, "curl_easy_cleanup");
    bind(lib, c.easy_reset, "curl_easy_reset");
    bind(lib, c.easy_setopt, "curl_easy_setopt");
    bind(lib, c.easy_getinfo, "curl_easy_getinfo");
    bind(lib, c.easy_perform, "curl_easy_perform");
    bind(lib, c.easy_strerror, "curl_easy_strerror");
    bind(lib, c.slist_append, "curl_slist_append");
    bind(lib, c.slist_free_all, "curl_slist_free_all");
    bind(lib, c.free, "curl_free");
    bind(lib, c.url, "curl_url");
    bind(lib, c.url_cleanup, "curl_url_cleanup");
    bind(lib, c.url_get, "curl_url_get");
    bind(lib, c.url_set, "curl_url_set");
    return c;  // the library stays loaded for the life of the process
}

// Loaded once, by whichever thread gets here first (a function-local static is thread-safe).
const Libcurl& libcurl() {
    static const Libcurl c = load();
    return c;
}

}  // namespace

extern "C" {

CURLcode curl_global_init(long flags) {
    return libcurl().global_init(flags);
}
CURL* curl_easy_init() {
    return libcurl().easy_init();
}
void curl_easy_cleanup(CURL* h) {
    libcurl().easy_cleanup(h);
}
void curl_easy_reset(CURL* h) {
    libcurl().easy_reset(h);
}
CURLcode curl_easy_perform(CURL* h) {
    return libcurl().easy_perform(h);
}
const char* curl_easy_strerror(CURLcode code) {
    return libcurl().easy_strerror(code);
}
curl_slist* curl_slist_append(curl_slist* list, const char* s) {
    return libcurl().slist_append(list, s);
}
void curl_slist_free_all(curl_slist* list) {
    libcurl().slist_free_all(list);
}
void curl_free(void* p) {
    libcurl().free(p);
}
CURLU* curl_url() {
    return libcurl().url();
}
void curl_url_cleanup(CURLU* u) {
    libcurl().url_cleanup(u);
}
CURLUcode curl_url_get(CURLU* u, CURLUPart part, char** out, unsigned int flags) {
    return libcurl().url_get(u, part, out, flags);
}
CURLUcode curl_url_set(CURLU* u, CURLUPart part, const char* s, unsigned int flags) {
    return libcurl().url_set(u, part, s, flags);
}

// curl.h fixes these signatures, whose last named parameter is an enum. va_start after an enum
// is fine on the ABIs rkt builds for (va_start does not look at that parameter's type), but
// clang warns that the standard leaves it undefined for types that promote; the warning is off
// for these two definitions only.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wvarargs"
#endif

// Every option takes one argument whose type its number tells (curl's own rule, see
// CURLOPTTYPE_* in curl.h): long, object pointer, function pointer, curl_off_t or blob pointer.
CURLcode curl_easy_setopt(CURL* h, CURLoption option, ...) {
    va_list ap;
    va_start(ap, option);
    CURLcode rc;
    // va_start is above (the analyzer loses it behind the -Wvarargs pragma); long and curl_off_t
    // are one type on this ABI, two in curl's rule.
    // NOLINTBEGIN(clang-analyzer-valist.Uninitialized,bugprone-branch-clone)
    if (option < CURLOPTTYPE_OBJECTPOINT)
        rc = libcurl().easy_setopt(h, option, va_arg(ap, long));
    else if (option < CURLOPTTYPE_FUNCTIONPOINT || option >= CURLOPTTYPE_BLOB)
        rc = libcurl().easy_setopt(h, option, va_arg(ap, void*));
    else if (option < CURLOPTTYPE_OFF_T)
        rc = libcurl().easy_setopt(h, option, va_arg(ap, VoidFn));
    else
        rc = libcurl().easy_setopt(h, option, va_arg(ap, curl_off_t));
    // NOLINTEND(clang-analyzer-valist.Uninitialized,bugprone-branch-clone)
    va_end(ap);
    return rc;
}

// Every CURLINFO takes one pointer to where the value goes.
CURLcode curl_easy_getinfo(CURL* h, CURLINFO info, ...) {
    va_list ap;
    va_start(ap, info);
    void* out = va_arg(ap, void*);
    va_end(ap);
    return libcurl().easy_getinfo(h, info, out);
}

#if defined(__clang__)
#pragma clang diagnostic pop
#endif

}  // extern "C"
