// Chat templates, one function per family. The formats, with a system (S), user (U1), assistant (A1),
// user (U2) conversation; "⏎" is a newline, <bos>/<eos> the model's BOS/EOS texts. Each prompt ends
// with the opening of the assistant's turn (the generation prompt). "add_bos" means the format starts
// with BOS, which the rendered text leaves out for the tokenizer to add (as llama.cpp does).
//
//   chatml   (Qwen, Yi, OpenHermes...; no BOS; stop "<|im_end|>")
//     <|im_start|>system⏎S<|im_end|>⏎<|im_start|>user⏎U1<|im_end|>⏎<|im_start|>assistant⏎A1<|im_end|>⏎
//     <|im_start|>user⏎U2<|im_end|>⏎<|im_start|>assistant⏎
//   llama2   (Llama-2-chat, Meta's reference; add_bos; stop <eos>; contents trimmed)
//     [INST] <<SYS>>⏎S⏎<</SYS>>⏎⏎U1 [/INST] A1 <eos><bos>[INST] U2 [/INST]
//   llama3   (Llama 3/3.1/3.2 Instruct; add_bos; stop "<|eot_id|>"; contents trimmed; role "tool" is
//            written "ipython" as Llama 3.1 does)
//     <|start_header_id|>system<|end_header_id|>⏎⏎S<|eot_id|><|start_header_id|>user<|end_header_id|>⏎⏎U1
//     <|eot_id|><|start_header_id|>assistant<|end_header_id|>⏎⏎A1<|eot_id|><|start_header_id|>user
//     <|end_header_id|>⏎⏎U2<|eot_id|><|start_header_id|>assistant<|end_header_id|>⏎⏎
//   mistral  (Mistral/Mixtral Instruct v0.1-v0.3; add_bos; stop <eos>; no system role: a system message
//            is prepended to the next user message followed by a blank line, as llama.cpp does)
//     [INST] S⏎⏎U1 [/INST]A1<eos>[INST] U2 [/INST]
//   zephyr   (Zephyr, TinyLlama-chat; add_bos; stop <eos> and "<|user|>")
//     <|system|>⏎S<eos>⏎<|user|>⏎U1<eos>⏎<|assistant|>⏎A1<eos>⏎<|user|>⏎U2<eos>⏎<|assistant|>⏎
//   gemma    (Gemma/Gemma 2 it; add_bos; stop "<end_of_turn>"; contents trimmed; assistant is "model";
//            no system role: merged into the next user message as for mistral)
//     <start_of_turn>user⏎S⏎⏎U1<end_of_turn>⏎<start_of_turn>model⏎A1<end_of_turn>⏎
//     <start_of_turn>user⏎U2<end_of_turn>⏎<start_of_turn>model⏎
//   phi3     (Phi-3/3.5 instruct; no BOS; stop "<|end|>")
//     <|system|>⏎S<|end|>⏎<|user|>⏎U1<|end|>⏎<|assistant|>⏎A1<|end|>⏎<|user|>⏎U2<|end|>⏎<|assistant|>⏎
//   plain    (the default for models without a recognised template, e.g. base models; add_bos; stop
//            "\nUser:"; roles other than system/user/assistant are written verbatim)
//     System: S⏎User: U1⏎Assistant: A1⏎User: U2⏎Assistant:
//
// Roles: system, user, assistant, tool; "developer" (OpenAI's newer name) is taken as system. Formats
// without a tool role (llama2, mistral, zephyr, gemma, phi3) write tool results as user turns. A system
// message left with no user message after it (formats that merge it) becomes a user turn of its own.
#include "serve/chat_template.h"

#include <cctype>

#include "serve/api_error.h"

namespace bitdial::serve {
namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

bool contains(std::string_view text, std::string_view marker) { return text.find(marker) != std::string_view::npos; }

// Checks roles and maps "developer" to "system".
std::vector<ChatMessage> normalise(const std::vector<ChatMessage>& messages) {
  std::vector<ChatMessage> out;
  out.reserve(messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    ChatMessage m = messages[i];
    if (m.role == "developer") m.role = "system";
    if (m.role != "system" && m.role != "user" && m.role != "assistant" && m.role != "tool")
      throw ApiException::invalid_request(
          "messages", "messages[" + std::to_string(i) + "].role must be \"system\", \"user\", \"assistant\" or "
                                                        "\"tool\" (got \"" + m.role + "\")");
    out.push_back(std::move(m));
  }
  return out;
}

// For formats without a system (and tool) role: system text joins the next user message after a blank
// line; tool turns become user turns.
std::vector<ChatMessage> merge_system(std::vector<ChatMessage> messages) {
  std::vector<ChatMessage> out;
  std::string pending;  // system text waiting for a user message
  bool has_pending = false;
  for (ChatMessage& m : messages) {
    if (m.role == "tool") m.role = "user";
    if (m.role == "system") {
      pending += has_pending ? "\n\n" + m.content : m.content;
      has_pending = true;
      continue;
    }
    if (m.role == "user" && has_pending) {
      m.content = pending + "\n\n" + m.content;
      has_pending = false;
      pending.clear();
    }
    out.push_back(std::move(m));
  }
  if (has_pending) out.push_back(ChatMessage{"user", pending});
  return out;
}

RenderedChat chatml(const std::vector<ChatMessage>& messages) {
  RenderedChat r{"", {"<|im_end|>"}, false};
  for (const ChatMessage& m : messages) r.prompt += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  r.prompt += "<|im_start|>assistant\n";
  return r;
}

RenderedChat llama3(const std::vector<ChatMessage>& messages) {
  RenderedChat r{"", {"<|eot_id|>"}, true};
  for (const ChatMessage& m : messages) {
    const std::string role = m.role == "tool" ? "ipython" : m.role;
    r.prompt += "<|start_header_id|>" + role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
  }
  r.prompt += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return r;
}

RenderedChat llama2(const std::vector<ChatMessage>& messages, const std::string& bos, const std::string& eos) {
  RenderedChat r{"", {eos}, true};
  std::string system;  // waits for the next user message, inside its [INST] block
  bool after_assistant = false;
  auto user_turn = [&](const std::string& content) {
    if (after_assistant) r.prompt += bos;  // the first BOS is the tokenizer's
    r.prompt += "[INST] ";
    if (!system.empty()) r.prompt += "<<SYS>>\n" + system + "\n<</SYS>>\n\n";
    system.clear();
    r.prompt += trim(content) + " [/INST]";
    after_assistant = false;
  };
  for (const ChatMessage& m : messages) {
    if (m.role == "system") {
      if (!system.empty()) system += "\n\n";
      system += trim(m.content);
    } else if (m.role == "assistant") {
      // Appended piece by piece: `"literal" + std::string&&` trips GCC 12's -Wrestrict false positive.
      r.prompt.append(" ").append(trim(m.content)).append(" ").append(eos);
      after_assistant = true;
    } else {  // user, tool
      user_turn(m.content);
    }
  }
  if (!system.empty()) user_turn("");
  return r;
}

RenderedChat mistral(const std::vector<ChatMessage>& messages, const std::string& eos) {
  RenderedChat r{"", {eos}, true};
  for (const ChatMessage& m : merge_system(messages)) {
    if (m.role == "assistant")
      r.prompt += m.content + eos;
    else
      r.prompt += "[INST] " + m.content + " [/INST]";
  }
  return r;
}

RenderedChat zephyr(const std::vector<ChatMessage>& messages, const std::string& eos) {
  RenderedChat r{"", {eos, "<|user|>"}, true};
  for (const ChatMessage& m : messages) {
    const std::string role = m.role == "tool" ? "user" : m.role;
    r.prompt += "<|" + role + "|>\n" + m.content + eos + "\n";
  }
  r.prompt += "<|assistant|>\n";
  return r;
}

RenderedChat gemma(const std::vector<ChatMessage>& messages) {
  RenderedChat r{"", {"<end_of_turn>"}, true};
  for (const ChatMessage& m : merge_system(messages)) {
    const std::string role = m.role == "assistant" ? "model" : "user";
    r.prompt += "<start_of_turn>" + role + "\n" + trim(m.content) + "<end_of_turn>\n";
  }
  r.prompt += "<start_of_turn>model\n";
  return r;
}

RenderedChat phi3(const std::vector<ChatMessage>& messages) {
  RenderedChat r{"", {"<|end|>"}, false};
  for (const ChatMessage& m : messages) {
    const std::string role = m.role == "tool" ? "user" : m.role;
    r.prompt += "<|" + role + "|>\n" + m.content + "<|end|>\n";
  }
  r.prompt += "<|assistant|>\n";
  return r;
}

RenderedChat plain(const std::vector<ChatMessage>& messages) {
  RenderedChat r{"", {"\nUser:"}, true};
  for (const ChatMessage& m : messages) {
    std::string role = m.role;
    if (role == "system" || role == "user" || role == "assistant")
      role[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(role[0])));
    r.prompt += role + ": " + m.content + "\n";
  }
  r.prompt += "Assistant:";
  return r;
}

constexpr std::pair<ChatTemplateKind, const char*> kNames[] = {
    {ChatTemplateKind::chatml, "chatml"}, {ChatTemplateKind::llama2, "llama2"}, {ChatTemplateKind::llama3, "llama3"},
    {ChatTemplateKind::mistral, "mistral"}, {ChatTemplateKind::zephyr, "zephyr"}, {ChatTemplateKind::gemma, "gemma"},
    {ChatTemplateKind::phi3, "phi3"},     {ChatTemplateKind::plain, "plain"},
};

}  // namespace

ChatTemplateKind detect_chat_template(std::string_view t) {
  // Most specific markers first: phi3 and zephyr share "<|user|>", llama2 and mistral share "[INST]".
  if (contains(t, "<|im_start|>")) return ChatTemplateKind::chatml;
  if (contains(t, "<|start_header_id|>")) return ChatTemplateKind::llama3;
  if (contains(t, "<start_of_turn>")) return ChatTemplateKind::gemma;
  if (contains(t, "<|user|>")) return contains(t, "<|end|>") ? ChatTemplateKind::phi3 : ChatTemplateKind::zephyr;
  if (contains(t, "[INST]")) return contains(t, "<<SYS>>") ? ChatTemplateKind::llama2 : ChatTemplateKind::mistral;
  return ChatTemplateKind::plain;
}

std::string chat_template_name(ChatTemplateKind kind) {
  for (const auto& [k, name] : kNames)
    if (k == kind) return name;
  return "plain";
}

std::optional<ChatTemplateKind> parse_chat_template_name(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [k, n] : kNames)
    if (lower == n) return k;
  return std::nullopt;
}

RenderedChat render_chat(ChatTemplateKind kind, const std::vector<ChatMessage>& messages, const std::string& bos_text,
                         const std::string& eos_text) {
  const std::vector<ChatMessage> m = normalise(messages);
  const std::string bos = bos_text.empty() ? "<s>" : bos_text;
  const std::string eos = eos_text.empty() ? "</s>" : eos_text;
  switch (kind) {
    case ChatTemplateKind::chatml: return chatml(m);
    case ChatTemplateKind::llama2: return llama2(m, bos, eos);
    case ChatTemplateKind::llama3: return llama3(m);
    case ChatTemplateKind::mistral: return mistral(m, eos);
    case ChatTemplateKind::zephyr: return zephyr(m, eos);
    case ChatTemplateKind::gemma: return gemma(m);
    case ChatTemplateKind::phi3: return phi3(m);
    case ChatTemplateKind::plain: return plain(m);
  }
  return plain(m);
}

}  // namespace bitdial::serve
