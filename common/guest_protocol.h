// The guest protocol: framed, versioned messages between the kvm stage1 (host) and guest-init,
// over a virtio-console port. Both ends use this code. docs/guest-protocol.md is the reference
// for the bytes on the wire; the headers below are the reference for the C++ API:
//
//   guest_protocol/framing.h           the header, type numbers, limits; bytes → frames
//   guest_protocol/pod_spec.h          PodSpec and its parts
//   guest_protocol/ip_prefix.h         IP addresses and CIDR prefixes of its interfaces
//   guest_protocol/control_messages.h  StopPod, Signal, Ready, PodExited, Log, Error
//   guest_protocol/app_messages.h      AppStarted, AppOutput, AppExited
//   guest_protocol/exec_messages.h     Exec, ExecSignal, ExecStarted, ExecOutput, ExecExited
//   guest_protocol/message.h           Message (the variant), to_frame, decode_message
//   guest_protocol/channel.h           FrameReader, FrameWriter: frames on a descriptor
//
// Every field of every message is checked on decoding (the peer is hostile), and by the same
// function on encoding. IsolationSettings ↔ isolation::Policy: guest_protocol/isolation_policy.h
// (in rkt_isolation).
#pragma once

#include "common/guest_protocol/app_messages.h"
#include "common/guest_protocol/channel.h"
#include "common/guest_protocol/control_messages.h"
#include "common/guest_protocol/exec_messages.h"
#include "common/guest_protocol/framing.h"
#include "common/guest_protocol/ip_prefix.h"
#include "common/guest_protocol/message.h"
#include "common/guest_protocol/pod_spec.h"
