// One function per command: each registers its CLI11 subcommand, flags and action.
#pragma once

#include <CLI/CLI.hpp>

#include "stage0/context.h"

namespace rkt::commands {

void add_version(CLI::App& app, Context& ctx);
void add_run(CLI::App& app, Context& ctx);
void add_prepare(CLI::App& app, Context& ctx);
void add_run_prepared(CLI::App& app, Context& ctx);
void add_list(CLI::App& app, Context& ctx);
void add_status(CLI::App& app, Context& ctx);
void add_stop(CLI::App& app, Context& ctx);
void add_rm(CLI::App& app, Context& ctx);
void add_gc(CLI::App& app, Context& ctx);
void add_cat_manifest(CLI::App& app, Context& ctx);
void add_fetch(CLI::App& app, Context& ctx);
void add_image(CLI::App& app, Context& ctx);
void add_enter(CLI::App& app, Context& ctx);
void add_trust(CLI::App& app, Context& ctx);
void add_image_sign(CLI::App& image, Context& ctx);
void add_tpm(CLI::App& app, Context& ctx);

}  // namespace rkt::commands
