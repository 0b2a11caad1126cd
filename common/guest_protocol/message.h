// Any message of the guest protocol, and the step between a message and a frame: the type is the
// message struct's kType, the body its own codec (pod_spec.h, control_messages.h, ...).
#pragma once

#include <variant>

#include "common/guest_protocol/app_messages.h"
#include "common/guest_protocol/control_messages.h"
#include "common/guest_protocol/exec_messages.h"
#include "common/guest_protocol/framing.h"
#include "common/guest_protocol/pod_spec.h"

namespace rkt::guest {

using Message =
    std::variant<PodSpec, StopPod, SignalApps, Ready, AppStarted, AppOutput, AppExited, PodExited,
                 LogMessage, ErrorMessage, Exec, ExecSignal, ExecStarted, ExecOutput, ExecExited>;

MessageType message_type(const Message& message);

// Message → Frame (sequence 0; FrameWriter numbers frames). Throws rkt::Error when the message
// breaks the protocol's rules (e.g. a PodSpec that does not validate, an oversized payload).
Frame to_frame(const Message& message);
// Frame → Message, strictly: unknown or missing keys, wrong JSON types, out-of-range values and a
// payload on a message that has none are all errors (rkt::Error).
Message decode_message(const Frame& frame);

}  // namespace rkt::guest
