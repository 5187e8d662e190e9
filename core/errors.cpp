#include "core/errors.hpp"

#include <iterator>

#include "core/duration.hpp"

namespace exactly_once {
namespace {

using F = Failure;
using K = ErrorKind;

// The wording of every error, once. Keep {arg} first where there is an argument: messages
// read "fn: ttl must be positive" in both engines.
constexpr CatalogueEntry kCatalogue[] = {
    {F::argument_null, K::null_argument, "argument_null", "{arg} must not be NULL"},
    {F::argument_empty, K::invalid_value, "argument_empty", "{arg} must not be empty"},
    {F::argument_too_large, K::too_large, "argument_too_large", "{arg} is {1} bytes, over the limit of {2} bytes"},
    {F::argument_wrong_type, K::invalid_value, "argument_wrong_type", "{arg} must be {1}"},
    {F::wrong_argument_count, K::invalid_value, "wrong_argument_count", "expected {1}, got {2}"},
    {F::ttl_not_positive, K::invalid_value, "ttl_not_positive", "{arg} must be positive{1}"},
    {F::ttl_not_finite, K::invalid_value, "ttl_not_finite", "{arg} must be a finite number of seconds"},
    {F::ttl_too_long, K::invalid_value, "ttl_too_long", "{arg} is too long (the maximum is 36500 days)"},
    {F::ttl_not_a_duration, K::invalid_text, "ttl_not_a_duration",
     "{arg} is not a duration: expected seconds or a number with a unit (ms, s, m, h, d) such as 90s, 48h or "
     "1h30m (got \"{1}\")"},
    {F::ttl_number_without_unit, K::invalid_text, "ttl_number_without_unit",
     "{arg} has a number without a unit (got \"{1}\")"},
    {F::ttl_unknown_unit, K::invalid_text, "ttl_unknown_unit",
     "{arg} has an unknown unit \"{1}\" (use ms, s, m, h or d) (got \"{2}\")"},
    {F::ttl_units_out_of_order, K::invalid_text, "ttl_units_out_of_order",
     "{arg} must list units from largest to smallest, each once (got \"{1}\")"},
    {F::json_invalid, K::invalid_text, "json_invalid", "{arg} is not valid JSON"},
    {F::json_nul_byte, K::invalid_text, "json_nul_byte", "{arg} is not valid JSON (it contains a NUL byte)"},
    {F::json_byte_order_mark, K::invalid_text, "json_byte_order_mark",
     "{arg} is not valid JSON (it starts with a byte-order mark)"},
    {F::json_too_deep, K::invalid_text, "json_too_deep", "{arg} is nested more than {1} levels deep"},
    {F::json_rejected_by_engine, K::invalid_text, "json_rejected_by_engine", "{arg} is not valid jsonb: {1}"},
    {F::headers_not_object, K::invalid_text, "headers_not_object", "{arg} must be a JSON object of strings"},
    {F::header_not_string, K::invalid_text, "header_not_string",
     "{arg} must be a JSON object of strings (\"{1}\" is not a string)"},
    {F::header_named_twice, K::invalid_text, "header_named_twice", "{arg} names \"{1}\" more than once"},
    {F::purge_batch_not_positive, K::invalid_value, "purge_batch_not_positive", "{arg} must be a positive integer"},
    {F::unknown_setting, K::invalid_value, "unknown_setting", "unknown setting \"{1}\" (known: default_ttl)"},
    {F::stored_setting_invalid, K::bad_state, "stored_setting_invalid",
     "{arg} setting in exactly_once_config is invalid"},
    {F::no_such_attached_schema, K::invalid_value, "no_such_attached_schema",
     "no attached database named \"{1}\" (main and temp are always trusted)"},
    {F::untrusted_schema, K::not_permitted, "untrusted_schema",
     "refused while attached database \"{1}\" is untrusted: its {2} \"{3}\" calls {4}, and code stored in "
     "another database file must not claim, release or emit in main; DETACH it, or if you trust that file "
     "run SELECT exactly_once_trust_schema('{5}') on this connection, or set PRAGMA trusted_schema=OFF "
     "(which refuses these functions in every schema's triggers and views, main's included)"},
    {F::read_only_database, K::read_only, "read_only_database",
     "cannot write to a read-only database (state lives in schema main): {1}"},
    {F::schema_newer, K::bad_state, "schema_newer",
     "this database's exactly_once schema is version {1}, newer than this extension ({2}): load exactly_once "
     "{1} or later"},
    {F::schema_version_unreadable, K::bad_state, "schema_version_unreadable",
     "this database's exactly_once schema version \"{1}\" is not a release number (exactly_once_meta was "
     "edited?)"},
    {F::schema_upgrade_blocked, K::bad_state, "schema_upgrade_blocked",
     "this database's exactly_once tables have release {1}'s layout, and it cannot be upgraded while another "
     "statement reads them (a SELECT ... FROM or INSERT ... SELECT calling us): run SELECT exactly_once_upgrade() "
     "once on its own"},
    {F::not_called_as_trigger, K::trigger_misuse, "not_called_as_trigger", "must be called as a trigger"},
    {F::trigger_wrong_event, K::trigger_misuse, "trigger_wrong_event", "must be {1} trigger"},
    {F::trigger_wrong_arguments, K::invalid_value, "trigger_wrong_arguments", "expects the arguments ({1})"},
    {F::trigger_column_missing, K::not_found, "trigger_column_missing",
     "column \"{1}\" does not exist in table \"{2}\""},
    {F::trigger_key_column_null, K::null_argument, "trigger_key_column_null", "key column \"{1}\" must not be NULL"},
    {F::claim_contended, K::retry, "claim_contended",
     "the claim kept changing concurrently (released, purged or re-inserted {1} times in a row); retry the "
     "transaction"},
};
static_assert(kMaxTtl == std::chrono::days(36500), "ttl_too_long words kMaxTtl as 36500 days");
static_assert(std::size(kCatalogue) == static_cast<std::size_t>(Failure::count_), "one entry per Failure");

constexpr bool in_failure_order() {
    for (std::size_t i = 0; i < std::size(kCatalogue); ++i)
        if (kCatalogue[i].failure != static_cast<Failure>(i)) return false;
    return true;
}
static_assert(in_failure_order(), "kCatalogue lists the entries in Failure order");

}  // namespace

const CatalogueEntry& catalogue_entry(Failure failure) noexcept {
    return kCatalogue[static_cast<std::size_t>(failure)];
}

const char* sqlstate_of(ErrorKind kind) noexcept {
    switch (kind) {
        case K::null_argument:  return "22004";
        case K::invalid_value:  return "22023";
        case K::invalid_text:   return "22P02";
        case K::too_large:      return "54000";
        case K::read_only:      return "25006";
        case K::not_permitted:  return "42501";
        case K::bad_state:      return "55000";
        case K::trigger_misuse: return "39P01";
        case K::not_found:      return "42703";
        case K::retry:          return "40001";
    }
    return "XX000";
}

std::string failure_message(Failure failure, std::string_view argument,
                            std::initializer_list<std::string_view> details) {
    const std::string_view wording = catalogue_entry(failure).wording;
    std::string out;
    out.reserve(wording.size() + argument.size() + 32);
    for (std::size_t i = 0; i < wording.size(); ++i) {
        if (wording[i] == '{') {
            const std::size_t close = wording.find('}', i);
            const std::string_view slot = wording.substr(i + 1, close - i - 1);
            if (slot == "arg") {
                out += argument;
            } else {
                const std::size_t n = static_cast<std::size_t>(slot[0] - '1');  // {1}..{9}
                if (n < details.size()) out += *(details.begin() + n);
            }
            i = close;
            continue;
        }
        out += wording[i];
    }
    return out;
}

void fail(Failure failure, std::string_view argument, std::initializer_list<std::string_view> details) {
    throw Error(failure, std::string(argument), failure_message(failure, argument, details));
}

std::string excerpt(std::string_view text, std::size_t max_bytes) {
    if (text.size() <= max_bytes) return std::string(text);
    std::size_t cut = max_bytes;
    // Back off over continuation bytes (10xxxxxx) so no character is split.
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    return std::string(text.substr(0, cut)) + "...";
}

}  // namespace exactly_once
