// The one conversion between an app's isolation policy (common/isolation's Policy, what the host
// computes and what guest-init applies) and its wire form in the PodSpec (IsolationSettings).
// Part of rkt_isolation, not rkt_common: it needs libcap's capability names.
#pragma once

#include "common/guest_protocol/pod_spec.h"
#include "common/isolation.h"

namespace rkt::guest {

// The host's side: the policy as the PodSpec carries it.
IsolationSettings settings_from_policy(const isolation::Policy& policy);
// guest-init's side. Throws rkt::Error naming an unknown capability.
isolation::Policy policy_from_settings(const IsolationSettings& settings);

}  // namespace rkt::guest
