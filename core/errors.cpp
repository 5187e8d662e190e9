#include "core/errors.hpp"

namespace exactly_once {

const char* sqlstate_of(ErrorKind kind) noexcept {
    switch (kind) {
        case ErrorKind::null_argument: return "22004";
        case ErrorKind::invalid_value: return "22023";
        case ErrorKind::invalid_text:  return "22P02";
        case ErrorKind::too_large:     return "54000";
    }
    return "XX000";
}

std::string excerpt(std::string_view text, std::size_t max_bytes) {
    if (text.size() <= max_bytes) return std::string(text);
    std::size_t cut = max_bytes;
    // Back off over continuation bytes (10xxxxxx) so no character is split.
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    return std::string(text.substr(0, cut)) + "...";
}

}  // namespace exactly_once
