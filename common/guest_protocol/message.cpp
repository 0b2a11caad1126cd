#include "common/guest_protocol/message.h"

#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "common/error.h"

namespace rkt::guest {

namespace {

// The alternative of Message whose kType is `type`, decoded from `frame`.
template <size_t... I>
Message decode_alternative(const Frame& frame, std::index_sequence<I...>) {
    std::optional<Message> decoded;
    auto try_one = [&](auto tag) {
        using T = typename decltype(tag)::type;
        if (decoded || frame.type != T::kType) return;
        T m;
        decode_body(frame, m);
        decoded = std::move(m);
    };
    (try_one(std::type_identity<std::variant_alternative_t<I, Message>>{}), ...);
    if (!decoded)
        throw Error("unknown message type " + std::to_string(static_cast<unsigned>(frame.type)));
    return std::move(*decoded);
}

}  // namespace

MessageType message_type(const Message& message) {
    return std::visit([](const auto& m) { return std::decay_t<decltype(m)>::kType; }, message);
}

Frame to_frame(const Message& message) {
    Frame frame;
    frame.type = message_type(message);
    std::visit([&](const auto& m) { encode_body(m, frame); }, message);
    if (frame.json.size() > kMaxJsonLength)
        throw Error(std::string(message_type_name(frame.type)) + " is larger than " +
                    std::to_string(kMaxJsonLength) + " bytes");
    return frame;
}

Message decode_message(const Frame& frame) {
    return decode_alternative(frame, std::make_index_sequence<std::variant_size_v<Message>>{});
}

}  // namespace rkt::guest
