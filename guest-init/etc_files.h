// The files guest-init writes into each app's root: /etc/hostname, /etc/hosts, /etc/resolv.conf
// (what rkt's stage1 wrote; reference: rkt's networking docs).
#pragma once

#include <optional>
#include <string>

#include "common/guest_protocol.h"

namespace rkt::guest_init {

std::string hostname_file(const guest::PodSpec& spec);
// With hosts entries: localhost lines plus the entries. Without: nullopt when the image has its
// own /etc/hosts (kept), else rkt's fallback naming the pod's hostname.
std::optional<std::string> hosts_file(const guest::PodSpec& spec, bool image_has_hosts);
// nullopt when the pod spec carries no DNS settings (the image's file is kept).
std::optional<std::string> resolv_conf(const guest::PodSpec& spec);

}  // namespace rkt::guest_init
