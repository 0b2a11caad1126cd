// rkt image list|rm|gc|export|extract|render|cat-manifest|verify
#include <iostream>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/process.h"
#include "common/strings.h"
#include "stage0/commands/commands.h"
#include "stage0/commands/images_in_use.h"
#include "stage0/commands/json_output.h"
#include "stage0/table.h"

namespace rkt::commands {

namespace {

store::ImageInfo find_image(Context& ctx, const std::string& ref) {
    auto info = ctx.images().resolve(ref);
    if (!info) throw Error("no image \"" + ref + "\" in the store (see rkt image list)");
    return *info;
}

void add_list(CLI::App* image, Context& ctx) {
    struct Opts {
        bool full = false;
        bool no_legend = false;
        std::string format;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = image->add_subcommand("list", "List images in the local store");
    cmd->add_flag("--full", o->full, "print full IDs and absolute times");
    cmd->add_flag("--no-legend", o->no_legend, "suppress a legend with the list");
    cmd->add_option("--format", o->format, "output format: json or json-pretty");
    cmd->callback([&ctx, o] {
        log::set_prefix("image list");
        check_json_format(o->format);
        auto images = ctx.images().list();
        if (!o->format.empty()) {
            nlohmann::json arr = nlohmann::json::array();
            for (const auto& i : images) {
                arr.push_back({{"id", i.id},
                               {"name", i.full_name()},
                               {"size", i.size},
                               {"import_time", std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                   i.import_time.time_since_epoch())
                                                   .count()},
                               {"last_used", std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                 i.last_used.time_since_epoch())
                                                 .count()}});
            }
            print_json(arr, o->format);
            return;
        }
        Table table({"ID", "NAME", "SIZE", "IMPORTED", "LAST USED"});
        auto now = store::Clock::now();
        for (const auto& i : images) {
            auto when = [&](store::Clock::time_point t) {
                return o->full ? strings::format_time(t) : strings::human_age(t, now);
            };
            table.add_row({o->full ? i.id : i.short_id(), i.full_name(),
                           o->full ? std::to_string(i.size) : strings::human_size(i.size),
                           when(i.import_time), when(i.last_used)});
        }
        table.print(std::cout, !o->no_legend);
    });
}

void add_rm(CLI::App* image, Context& ctx) {
    auto refs = std::make_shared<std::vector<std::string>>();
    auto* cmd = image->add_subcommand("rm", "Remove images from the local store");
    cmd->add_option("IMAGES", *refs, "image IDs or names")->required();
    cmd->callback([&ctx, refs] {
        log::set_prefix("rm");
        auto in_use = images_in_use(ctx);
        int removed = 0, failed = 0;
        for (const auto& ref : *refs) {
            try {
                auto info = find_image(ctx, ref);
                if (auto it = in_use.find(info.id); it != in_use.end())
                    throw Error("image \"" + ref + "\" is used by pod " + it->second +
                                "; remove the pod first (rkt rm)");
                ctx.images().remove(info.id);
                std::cout << "successfully removed image: \"" << info.id << "\"" << std::endl;
                ++removed;
            } catch (const Error& e) {
                log::info(e.what());
                ++failed;
            }
        }
        if (removed) log::info(std::to_string(removed) + " image(s) successfully removed");
        if (failed) ctx.exit_code = kErrorExitCode;
    });
}

void add_gc(CLI::App* image, Context& ctx) {
    auto grace = std::make_shared<std::string>("24h");
    auto* cmd = image->add_subcommand("gc", "Remove unused images and their blobs");
    cmd->add_option("--grace-period", *grace, "remove images not used for this long")
        ->capture_default_str();
    cmd->callback([&ctx, grace] {
        log::set_prefix("image gc");
        Context::ensure_superuser();
        auto d = strings::parse_duration(*grace);
        if (!d) throw Error("--grace-period: \"" + *grace + "\" is not a duration (e.g. 24h)");
        // No pod may be prepared while we decide what is unused.
        FileLock lock = ctx.lock_prepare(FileLock::Mode::kExclusive);
        std::set<std::string> keep;
        for (const auto& [id, uuid] : images_in_use(ctx)) keep.insert(id);
        auto removed = ctx.images().gc(*d, keep);
        for (const auto& id : removed) log::info("removed image \"" + id + "\"");
        log::info(std::to_string(removed.size()) + " image(s) removed");
    });
}

void add_export(CLI::App* image, Context& ctx) {
    struct Opts {
        std::string ref, out;
        bool overwrite = false;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = image->add_subcommand("export", "Write an image as an OCI archive");
    cmd->add_option("IMAGE", o->ref, "image ID or name")->required();
    cmd->add_option("OUTPUT", o->out, "archive to write")->required();
    cmd->add_flag("--overwrite", o->overwrite, "replace OUTPUT if it exists");
    cmd->callback([&ctx, o] {
        log::set_prefix("image export");
        std::error_code ec;
        if (!o->overwrite && stdfs::exists(o->out, ec))
            throw Error(o->out + " already exists (use --overwrite)");
        ctx.images().export_oci_archive(find_image(ctx, o->ref).id, o->out);
    });
}

void add_extract(CLI::App* image, Context& ctx, const char* name, const char* help) {
    struct Opts {
        std::string ref, dir;
        bool rootfs_only = false, overwrite = false;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = image->add_subcommand(name, help);
    cmd->add_option("IMAGE", o->ref, "image ID or name")->required();
    cmd->add_option("DIR", o->dir, "destination directory")->required();
    cmd->add_flag("--rootfs-only", o->rootfs_only, "write only the root filesystem");
    cmd->add_flag("--overwrite", o->overwrite, "replace DIR if it exists");
    std::string prefix = std::string("image ") + name;
    cmd->callback([&ctx, o, prefix] {
        log::set_prefix(prefix);
        auto info = find_image(ctx, o->ref);
        std::error_code ec;
        if (stdfs::exists(o->dir, ec)) {
            if (!o->overwrite) throw Error(o->dir + " already exists (use --overwrite)");
            fs::remove_tree(o->dir);
        }
        stdfs::path tree = ctx.images().render_tree(info.id);
        stdfs::path dest = o->rootfs_only ? stdfs::path(o->dir) : stdfs::path(o->dir) / "rootfs";
        fs::make_dirs(dest.parent_path());
        run_command_checked({"cp", "-a", "--reflink=auto", "--", tree.string(), dest.string()});
        if (!o->rootfs_only)
            fs::write_file(stdfs::path(o->dir) / "manifest", ctx.images().manifest_json(info.id));
    });
}

void add_cat_manifest(CLI::App* image, Context& ctx) {
    struct Opts {
        std::string ref;
        bool pretty = true;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = image->add_subcommand("cat-manifest", "Print the manifest of an image");
    cmd->add_option("IMAGE", o->ref, "image ID or name")->required();
    cmd->add_option("--pretty-print", o->pretty, "indent the JSON")->capture_default_str();
    cmd->callback([&ctx, o] {
        log::set_prefix("image cat-manifest");
        std::string text = ctx.images().manifest_json(find_image(ctx, o->ref).id);
        if (o->pretty) {
            auto j = nlohmann::json::parse(text, nullptr, false);
            if (!j.is_discarded()) text = j.dump(4);
        }
        std::cout << text << "\n";
    });
}

void add_verify(CLI::App* image, Context& ctx) {
    auto* cmd = image->add_subcommand("verify", "Check every blob and image in the store");
    cmd->callback([&ctx] {
        log::set_prefix("image verify");
        auto problems = ctx.images().verify();
        for (const auto& p : problems) std::cout << p << "\n";
        if (!problems.empty())
            throw Error(std::to_string(problems.size()) + " problem(s) found in the image store");
        std::cout << "image store verified: no problems found\n";
    });
}

}  // namespace

void add_image(CLI::App& app, Context& ctx) {
    auto* image = app.add_subcommand("image", "Operate on images in the local store");
    image->require_subcommand(1);
    add_list(image, ctx);
    add_rm(image, ctx);
    add_gc(image, ctx);
    add_export(image, ctx);
    add_extract(image, ctx, "extract", "Extract an image's files to a directory");
    add_extract(image, ctx, "render", "Render an image's root filesystem to a directory");
    add_cat_manifest(image, ctx);
    add_verify(image, ctx);
    add_image_sign(*image, ctx);
}

}  // namespace rkt::commands
