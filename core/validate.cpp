#include "core/validate.hpp"

#include <nlohmann/json.hpp>
#include <string>

#include "core/errors.hpp"

namespace exactly_once {

[[noreturn]] void throw_null_argument(std::string_view argument) {
    throw Error(ErrorKind::null_argument, std::string(argument), std::string(argument) + " must not be NULL");
}

void validate_key_arg(std::string_view value, std::string_view argument, std::size_t max_bytes) {
    if (value.empty())
        throw Error(ErrorKind::invalid_value, std::string(argument), std::string(argument) + " must not be empty");
    if (value.size() > max_bytes)
        throw Error(ErrorKind::too_large, std::string(argument),
                    std::string(argument) + " is " + std::to_string(value.size()) + " bytes, over the limit of " +
                        std::to_string(max_bytes) + " bytes");
}

namespace {
void check_payload_size(std::string_view json, std::string_view argument) {
    if (json.size() > kMaxPayloadBytes)
        throw Error(ErrorKind::too_large, std::string(argument),
                    std::string(argument) + " is " + std::to_string(json.size()) + " bytes, over the limit of " +
                        std::to_string(kMaxPayloadBytes) + " bytes");
}
}  // namespace

void validate_json_payload(std::string_view json, std::string_view argument) {
    check_payload_size(json, argument);
    // accept() validates without building a DOM: payloads can be large.
    if (!nlohmann::json::accept(json))
        throw Error(ErrorKind::invalid_text, std::string(argument), std::string(argument) + " is not valid JSON");
}

void validate_json_headers(std::string_view json, std::string_view argument) {
    check_payload_size(json, argument);
    const auto doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded())
        throw Error(ErrorKind::invalid_text, std::string(argument), std::string(argument) + " is not valid JSON");
    if (!doc.is_object())
        throw Error(ErrorKind::invalid_text, std::string(argument),
                    std::string(argument) + " must be a JSON object of strings");
    for (const auto& [name, value] : doc.items()) {
        if (!value.is_string())
            throw Error(ErrorKind::invalid_text, std::string(argument),
                        std::string(argument) + " must be a JSON object of strings (\"" + name.substr(0, 64) +
                            "\" is not a string)");
    }
}

}  // namespace exactly_once
