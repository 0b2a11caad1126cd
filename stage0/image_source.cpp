#include "stage0/image_source.h"

#include <sys/stat.h>

#include "common/error.h"
#include "common/log.h"
#include "stage0/registry/fetcher.h"
#include "stage0/registry/progress.h"

namespace rkt {

PullPolicy parse_pull_policy(const std::string& s) {
    if (s == "never") return PullPolicy::kNever;
    if (s == "new") return PullPolicy::kNew;
    if (s == "update") return PullPolicy::kUpdate;
    throw Error("--pull-policy must be never, new or update, not \"" + s + "\"");
}

namespace {

struct LocalSource {
    stdfs::path path;
    std::string tag;
};

// `oci:PATH[:TAG]`: the tag is whatever follows the last colon after the last slash.
LocalSource split_oci_ref(const std::string& rest) {
    auto slash = rest.rfind('/');
    auto colon = rest.rfind(':');
    if (colon != std::string::npos && (slash == std::string::npos || colon > slash))
        return {rest.substr(0, colon), rest.substr(colon + 1)};
    return {rest, ""};
}

bool is_dir(const stdfs::path& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool is_file(const stdfs::path& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void require_trust(Context& ctx, const std::string& ref) {
    if (ctx.insecure().image) return;
    throw Error("image \"" + ref +
                "\" is not signed: local images carry no signature; to run it anyway, pass "
                "--insecure-options=image (or push it to a registry and sign it there, see "
                "docs/registry.md)");
}

}  // namespace

registry::FetchOptions registry_options(Context& ctx) {
    registry::FetchOptions o;
    const InsecureOptions& insecure = ctx.insecure();
    o.insecure_image = insecure.image;
    o.insecure_http = insecure.http;
    o.insecure_tls = insecure.tls;
    o.system_config = ctx.global.system_config;
    o.local_config = ctx.global.local_config;
    o.user_config = ctx.global.user_config;
    o.show_progress = registry::Progress::stderr_is_terminal();
    return o;
}

namespace {

// docker://: the store first under --pull-policy=new/never, the registry otherwise.
store::ImageInfo fetch_docker(Context& ctx, const ImageRequest& req) {
    registry::ImageReference ref = registry::parse_docker_url(req.ref);
    if (req.pull_policy != PullPolicy::kUpdate) {
        if (auto have = ctx.images().resolve(ref.name() + ":" + registry::store_tag_for(ref)))
            return *have;
        if (req.pull_policy == PullPolicy::kNever)
            throw Error("image " + ref.to_string() +
                        " is not in the store and --pull-policy=never forbids fetching it");
    }
    return registry::fetch_image(ctx.images(), ref, registry_options(ctx));
}

store::ImageInfo import_local(Context& ctx, const LocalSource& src, const std::string& ref) {
    require_trust(ctx, ref);
    std::string name;  // the store derives it from the layout
    if (is_dir(src.path)) {
        if (!is_file(src.path / "oci-layout"))
            throw Error(src.path.string() + " is a directory but not an OCI image layout (no " +
                        "oci-layout file)");
        return ctx.images().import_oci_layout(src.path, src.tag, name);
    }
    if (is_file(src.path)) return ctx.images().import_archive(src.path, src.tag, name);
    throw Error("image " + src.path.string() + " does not exist");
}

}  // namespace

store::ImageInfo obtain_image(Context& ctx, const ImageRequest& req) {
    const std::string& ref = req.ref;
    if (ref.empty()) throw Error("empty image name");
    if (ref.rfind("docker://", 0) == 0) return fetch_docker(ctx, req);
    if (ref.rfind("oci:", 0) == 0) return import_local(ctx, split_oci_ref(ref.substr(4)), ref);
    if (ref.rfind("oci-archive:", 0) == 0 || ref.rfind("docker-archive:", 0) == 0) {
        auto rest = ref.substr(ref.find(':') + 1);
        return import_local(ctx, split_oci_ref(rest), ref);
    }
    if (ref.rfind("file://", 0) == 0) return import_local(ctx, {ref.substr(7), ""}, ref);
    // A path (absolute, relative, or a name that exists in the cwd) is a local image.
    bool looks_like_path = ref[0] == '/' || ref[0] == '.' || is_dir(ref) || is_file(ref);
    if (looks_like_path) {
        if (!is_dir(ref) && !is_file(ref)) {
            auto src = split_oci_ref(ref);
            if (is_dir(src.path) || is_file(src.path)) return import_local(ctx, src, ref);
        }
        return import_local(ctx, {ref, ""}, ref);
    }
    if (auto info = ctx.images().resolve(ref)) return *info;
    throw Error("image \"" + ref +
                "\" is not in the store and is not a path; import it with `rkt fetch PATH` or "
                "give the path of an OCI layout or archive");
}

}  // namespace rkt
