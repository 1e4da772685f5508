#include "source/postgres/ddl_guard.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <set>

namespace flinkbr::source::postgres {

namespace {

struct Token {
  enum class Kind { kWord, kQuoted, kLiteral, kPunct } kind;
  std::string text;  // a word as written, a quoted identifier unescaped, a literal as written
};

struct Statement {
  std::string text;  // from its first token (comments before it left out) to its semicolon
  std::vector<Token> tokens;
  size_t begin = 0;  // offset of its first token in the script
};

bool word_start(unsigned char c) {
  return std::isalpha(c) || c == '_' || c >= 0x80;
}
bool word_char(unsigned char c) {
  return word_start(c) || std::isdigit(c) || c == '$';
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Splits a script as the server's lexer does for the constructs pg_dump writes: comments
// (nested /* */), '' strings (E'' with backslash escapes), "" identifiers, $tag$ bodies, and
// the SQL-standard bodies of CREATE FUNCTION ... BEGIN ATOMIC ... END, whose semicolons do not
// end the statement. A text this lexer cuts differently still runs one statement per call.
Result<std::vector<Statement>> split(const std::string& s, std::string_view entry) {
  std::vector<Statement> out;
  Statement cur;
  size_t start = 0;
  int atomic_depth = 0;
  auto fail = [&](const std::string& why) {
    return corruption(std::string(entry) + ": " + why + " near byte " + std::to_string(start));
  };
  auto is_routine = [&] {
    const auto& t = cur.tokens;
    auto w = [&](size_t i, const char* k) {
      return i < t.size() && t[i].kind == Token::Kind::kWord && upper(t[i].text) == k;
    };
    size_t i = w(1, "OR") && w(2, "REPLACE") ? 3 : 1;
    return w(0, "CREATE") && (w(i, "FUNCTION") || w(i, "PROCEDURE"));
  };
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (cur.tokens.empty()) cur.begin = i;  // kept only once a token follows
    if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      int depth = 0;
      do {
        if (s.compare(i, 2, "/*") == 0) {
          ++depth;
          i += 2;
        } else if (s.compare(i, 2, "*/") == 0) {
          --depth;
          i += 2;
        } else {
          ++i;
        }
      } while (depth > 0 && i < s.size());
      if (depth > 0) return fail("unterminated comment");
    } else if (c == '\'') {
      bool escapes = !cur.tokens.empty() && cur.tokens.back().kind == Token::Kind::kWord &&
                     upper(cur.tokens.back().text) == "E" && i > 0 &&
                     (s[i - 1] == 'E' || s[i - 1] == 'e');
      size_t b = i++;
      for (;;) {
        if (i >= s.size()) return fail("unterminated string");
        if (escapes && s[i] == '\\') {
          i += 2;
          continue;
        }
        if (s[i] == '\'') {
          if (i + 1 < s.size() && s[i + 1] == '\'') {
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        ++i;
      }
      cur.tokens.push_back({Token::Kind::kLiteral, s.substr(b, i - b)});
    } else if (c == '"') {
      std::string id;
      ++i;
      for (;;) {
        if (i >= s.size()) return fail("unterminated quoted identifier");
        if (s[i] == '"') {
          if (i + 1 < s.size() && s[i + 1] == '"') {
            id += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        id += s[i++];
      }
      cur.tokens.push_back({Token::Kind::kQuoted, id});
    } else if (c == '$' && i + 1 < s.size() &&
               (s[i + 1] == '$' || word_start(static_cast<unsigned char>(s[i + 1])))) {
      size_t e = i + 1;
      while (e < s.size() && s[e] != '$' && word_char(static_cast<unsigned char>(s[e]))) ++e;
      if (e >= s.size() || s[e] != '$') {  // $1 or a stray $: one character
        cur.tokens.push_back({Token::Kind::kPunct, std::string(1, s[i])});
        ++i;
        continue;
      }
      std::string tag = s.substr(i, e - i + 1);
      size_t close = s.find(tag, e + 1);
      if (close == std::string::npos) return fail("unterminated " + tag + " body");
      cur.tokens.push_back({Token::Kind::kLiteral, s.substr(i, close + tag.size() - i)});
      i = close + tag.size();
    } else if (word_start(c) || std::isdigit(c)) {
      size_t b = i;
      while (i < s.size() &&
             (word_char(static_cast<unsigned char>(s[i])) || (s[i] == '.' && std::isdigit(c))))
        ++i;
      cur.tokens.push_back({Token::Kind::kWord, s.substr(b, i - b)});
      if (is_routine()) {
        std::string w = upper(cur.tokens.back().text);
        if (w == "BEGIN" || w == "CASE") ++atomic_depth;
        if (w == "END" && atomic_depth > 0) --atomic_depth;
      }
    } else if (c == ';' && atomic_depth == 0) {
      cur.text = s.substr(cur.begin, i - cur.begin);
      if (!cur.tokens.empty()) out.push_back(std::move(cur));
      cur = Statement{};
      start = ++i;
    } else {
      if (!std::isspace(c)) cur.tokens.push_back({Token::Kind::kPunct, std::string(1, s[i])});
      ++i;
    }
  }
  if (!cur.tokens.empty()) return fail("a statement without its terminating semicolon");
  return out;
}

// Object kinds whose name is schema-qualified, as CREATE, ALTER and COMMENT ON write them.
const std::vector<std::vector<std::string>>& qualified_kinds() {
  static const std::vector<std::vector<std::string>> kinds = {
      {"TABLE"},
      {"UNLOGGED", "TABLE"},
      {"FOREIGN", "TABLE"},
      {"SEQUENCE"},
      {"VIEW"},
      {"RECURSIVE", "VIEW"},
      {"MATERIALIZED", "VIEW"},
      {"FUNCTION"},
      {"PROCEDURE"},
      {"ROUTINE"},
      {"AGGREGATE"},
      {"TYPE"},
      {"DOMAIN"},
      {"INDEX"},
      {"STATISTICS"},
      {"COLLATION"},
      {"CONVERSION"},
      {"DEFAULT", "CONVERSION"},
      {"OPERATOR", "CLASS"},
      {"OPERATOR", "FAMILY"},
      {"OPERATOR"},
      {"TEXT", "SEARCH", "CONFIGURATION"},
      {"TEXT", "SEARCH", "DICTIONARY"},
      {"TEXT", "SEARCH", "PARSER"},
      {"TEXT", "SEARCH", "TEMPLATE"},
  };
  return kinds;
}

class Checker {
 public:
  Checker(const Statement& st, const std::string& schema) : t_(st.tokens), schema_(schema) {}

  // Empty when the statement is pg_dump's DDL of the schema, else why not.
  std::string why_not() {
    if (word(0, "SET")) return check_set();
    if (word(0, "CREATE")) return check_create();
    if (word(0, "ALTER")) return check_alter();
    if (word(0, "COMMENT")) return word(1, "ON") ? check_comment() : "not pg_dump's DDL";
    if (word(0, "GRANT") || word(0, "REVOKE")) return check_grant();
    return "not pg_dump's DDL of the schema";
  }

 private:
  bool word(size_t i, std::string_view k) const {
    return i < t_.size() && t_[i].kind == Token::Kind::kWord && upper(t_[i].text) == k;
  }
  bool punct(size_t i, char p) const {
    return i < t_.size() && t_[i].kind == Token::Kind::kPunct && t_[i].text.size() == 1 &&
           t_[i].text[0] == p;
  }
  // An unquoted name folds to lower case, as the server folds it.
  bool is_schema(size_t i) const {
    if (i >= t_.size()) return false;
    if (t_[i].kind == Token::Kind::kQuoted) return t_[i].text == schema_;
    if (t_[i].kind != Token::Kind::kWord) return false;
    std::string lower = t_[i].text;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower == schema_;
  }
  std::string qualified_at(size_t i) const {
    if (is_schema(i) && punct(i + 1, '.') && i + 2 < t_.size()) return "";
    return "its object is not in the schema";
  }
  // Skips a kind phrase of `kinds` at i; returns the index after it, or 0.
  size_t skip_kind(size_t i) const {
    for (const auto& k : qualified_kinds()) {
      bool all = true;
      for (size_t n = 0; n < k.size() && all; ++n) all = word(i + n, k[n]);
      if (all) return i + k.size();
    }
    return 0;
  }
  size_t skip_if_exists(size_t i) const {
    if (word(i, "IF") && word(i + 1, "NOT") && word(i + 2, "EXISTS")) return i + 3;
    if (word(i, "IF") && word(i + 1, "EXISTS")) return i + 2;
    return i;
  }
  // The first word `k` at or after i, or t_.size().
  size_t find_word(size_t i, std::string_view k) const {
    while (i < t_.size() && !word(i, k)) ++i;
    return i;
  }

  std::string check_set() {
    static const std::set<std::string> kAllowed = {
        "STATEMENT_TIMEOUT",     "LOCK_TIMEOUT",       "IDLE_IN_TRANSACTION_SESSION_TIMEOUT",
        "TRANSACTION_TIMEOUT",   "CLIENT_ENCODING",    "STANDARD_CONFORMING_STRINGS",
        "CHECK_FUNCTION_BODIES", "XMLOPTION",          "CLIENT_MIN_MESSAGES",
        "ROW_SECURITY",          "DEFAULT_TABLESPACE", "DEFAULT_TABLE_ACCESS_METHOD",
        "DEFAULT_WITH_OIDS"};
    if (t_.size() >= 3 && t_[1].kind == Token::Kind::kWord && kAllowed.count(upper(t_[1].text)) &&
        (punct(2, '=') || word(2, "TO")))
      return "";
    return "a SET that pg_dump does not write";
  }

  std::string check_create() {
    size_t i = word(1, "OR") && word(2, "REPLACE") ? 3 : 1;
    if (word(i, "SCHEMA")) {
      size_t j = skip_if_exists(i + 1);
      return is_schema(j) && j + 1 == t_.size() ? "" : "another schema";
    }
    if (word(i, "UNIQUE")) ++i;
    if (word(i, "CONSTRAINT") && word(i + 1, "TRIGGER")) ++i;
    if (word(i, "INDEX") || word(i, "TRIGGER") || word(i, "POLICY")) {
      size_t on = find_word(i + 1, "ON");
      if (word(on + 1, "ONLY")) ++on;
      return qualified_at(on + 1);
    }
    if (word(i, "RULE")) return qualified_at(find_word(i + 1, "TO") + 1);
    size_t j = skip_kind(i);
    if (j == 0) return "a kind of object that is not a schema's";
    return qualified_at(skip_if_exists(j));
  }

  std::string check_alter() {
    if (word(1, "SCHEMA")) return is_schema(2) && !punct(3, '.') ? "" : "another schema";
    if (word(1, "DEFAULT") && word(2, "PRIVILEGES")) {
      size_t in = find_word(3, "IN");
      return word(in + 1, "SCHEMA") && is_schema(in + 2) && !punct(in + 3, ',') ? ""
                                                                                : "another schema";
    }
    size_t j = skip_kind(1);
    if (j == 0) return "a kind of object that is not a schema's";
    j = skip_if_exists(j);
    if (word(j, "ONLY")) ++j;
    return qualified_at(j);
  }

  std::string check_comment() {
    if (word(2, "SCHEMA")) return is_schema(3) && word(4, "IS") ? "" : "another schema";
    if (word(2, "CONSTRAINT") || word(2, "TRIGGER") || word(2, "POLICY") || word(2, "RULE")) {
      size_t on = find_word(3, "ON");
      if (word(on + 1, "DOMAIN")) ++on;
      return qualified_at(on + 1);
    }
    if (word(2, "COLUMN")) return qualified_at(3);
    size_t j = skip_kind(2);
    if (j == 0) return "a kind of object that is not a schema's";
    return qualified_at(j);
  }

  std::string check_grant() {
    size_t on = find_word(1, "ON");
    size_t to = std::min(find_word(on, "TO"), find_word(on, "FROM"));
    if (on >= t_.size() || to >= t_.size()) return "not a grant on an object";
    for (size_t k = on; k < to; ++k)
      if (punct(k, ',')) return "a grant on several objects";
    if (word(on + 1, "SCHEMA")) return is_schema(on + 2) && on + 3 == to ? "" : "another schema";
    size_t j = skip_kind(on + 1);
    if (word(on + 1, "LARGE") || word(on + 1, "ALL")) return "not a grant on one object";
    return qualified_at(j ? j : on + 1);
  }

  const std::vector<Token>& t_;
  const std::string& schema_;
};

std::string brief(const std::string& text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  if (out.size() > 120) out = out.substr(0, 117) + "...";
  return out;
}

}  // namespace

Result<std::vector<std::string>> replay_statements(const std::string& ddl,
                                                   const std::string& schema,
                                                   std::string_view entry) {
  std::vector<std::string> out;
  for (const auto& st : TRY(split(ddl, entry))) {
    const auto& t = st.tokens;
    auto word = [&](size_t i, std::string_view k) {
      return i < t.size() && t[i].kind == Token::Kind::kWord && upper(t[i].text) == k;
    };
    // pg_dump's script empties search_path so that every name it writes is qualified.
    if (brief(st.text) == "SELECT pg_catalog.set_config('search_path', '', false)") {
      out.push_back(st.text);
      continue;
    }
    std::string why = Checker(st, schema).why_not();
    if (!why.empty())
      return corruption(std::string(entry) +
                        " holds a statement that is not pg_dump's DDL of "
                        "schema '" +
                        schema + "' (" + why +
                        "), so this backup file was not "
                        "written by flinkbr as it is and is refused: " +
                        brief(st.text));
    if (word(0, "SET") &&
        (word(1, "STATEMENT_TIMEOUT") || word(1, "LOCK_TIMEOUT") ||
         word(1, "IDLE_IN_TRANSACTION_SESSION_TIMEOUT") || word(1, "TRANSACTION_TIMEOUT")))
      continue;
    if (st.text.starts_with("CREATE SCHEMA ") && !word(2, "IF")) {
      out.push_back("CREATE SCHEMA IF NOT EXISTS " + st.text.substr(14));
      continue;
    }
    out.push_back(st.text);
  }
  return out;
}

}  // namespace flinkbr::source::postgres
