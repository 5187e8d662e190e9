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

}  // namespace exactly_once
