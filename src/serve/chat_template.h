// Turns a chat conversation into the prompt text a local model was fine-tuned on. A GGUF stores its
// template as Jinja (tokenizer.chat_template); rather than run Jinja we recognise the family by its
// markers and render that family's published format in C++ (formats documented in chat_template.cpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serve/generation.h"

namespace bitdial::serve {

enum class ChatTemplateKind { chatml, llama2, llama3, mistral, zephyr, gemma, phi3, plain };

// The family of a GGUF's tokenizer.chat_template text; empty or unrecognised → plain.
ChatTemplateKind detect_chat_template(std::string_view gguf_template);

// "chatml", "llama2", "llama3", "mistral", "zephyr", "gemma", "phi3", "plain".
std::string chat_template_name(ChatTemplateKind kind);
// The inverse, case-insensitive; nullopt for anything else.
std::optional<ChatTemplateKind> parse_chat_template_name(std::string_view name);

struct RenderedChat {
  std::string prompt;              // the conversation, ending with the assistant turn's opening
  std::vector<std::string> stop;   // template end markers (e.g. "<|im_end|>") that end the assistant turn
  // The format starts with the model's BOS token, which `prompt` leaves out: the caller prepends the BOS
  // id when tokenizing (if the model has one and its GGUF asks for it).
  bool add_bos = false;
};

// Renders `messages` (roles "system", "user", "assistant", "tool"; "developer" is taken as "system")
// in the family's format. bos_text / eos_text are the model's BOS/EOS token texts, written between
// turns by the formats that need them ("<s>" / "</s>" when empty). Throws ApiException (400, param
// "messages") for any other role.
RenderedChat render_chat(ChatTemplateKind kind, const std::vector<ChatMessage>& messages, const std::string& bos_text,
                         const std::string& eos_text);

}  // namespace bitdial::serve
