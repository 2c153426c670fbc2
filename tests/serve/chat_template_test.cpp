// Chat templates: each family's rendering of a system+user+assistant+user conversation (the published
// format, ending with the generation prompt), its stop markers and BOS flag, detection from realistic
// GGUF template snippets, the name round trip, and role validation.
#include <gtest/gtest.h>

#include <string>

#include "serve/api_error.h"
#include "serve/chat_template.h"

namespace bitdial::serve {
namespace {

const std::vector<ChatMessage> kConversation = {
    {"system", "You are terse."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Bye"}};

RenderedChat render(ChatTemplateKind kind, const std::vector<ChatMessage>& m = kConversation) {
  return render_chat(kind, m, "<s>", "</s>");
}

// --- rendering ---

TEST(ChatTemplate, ChatmlRendering) {
  const RenderedChat r = render(ChatTemplateKind::chatml);
  EXPECT_EQ(r.prompt,
            "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(r.stop, (std::vector<std::string>{"<|im_end|>"}));
  EXPECT_FALSE(r.add_bos);
}

TEST(ChatTemplate, Llama2Rendering) {
  const RenderedChat r = render(ChatTemplateKind::llama2);
  EXPECT_EQ(r.prompt, "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Bye [/INST]");
  EXPECT_EQ(r.stop, (std::vector<std::string>{"</s>"}));
  EXPECT_TRUE(r.add_bos);
}

TEST(ChatTemplate, Llama3Rendering) {
  const RenderedChat r = render(ChatTemplateKind::llama3);
  EXPECT_EQ(r.prompt,
            "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(r.stop, (std::vector<std::string>{"<|eot_id|>"}));
  EXPECT_TRUE(r.add_bos);
}

TEST(ChatTemplate, MistralRenderingMergesSystemIntoFirstUser) {
  const RenderedChat r = render(ChatTemplateKind::mistral);
  EXPECT_EQ(r.prompt, "[INST] You are terse.\n\nHi [/INST]Hello.</s>[INST] Bye [/INST]");
  EXPECT_EQ(r.stop, (std::vector<std::string>{"</s>"}));
  EXPECT_TRUE(r.add_bos);
}

TEST(ChatTemplate, ZephyrRendering) {
  const RenderedChat r = render(ChatTemplateKind::zephyr);
  EXPECT_EQ(r.prompt,
            "<|system|>\nYou are terse.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello.</s>\n<|user|>\nBye</s>\n"
            "<|assistant|>\n");
  EXPECT_EQ(r.stop, (std::vector<std::string>{"</s>", "<|user|>"}));
  EXPECT_TRUE(r.add_bos);
}

TEST(ChatTemplate, GemmaRenderingMergesSystemIntoFirstUser) {
  const RenderedChat r = render(ChatTemplateKind::gemma);
  EXPECT_EQ(r.prompt,
            "<start_of_turn>user\nYou are terse.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n"
            "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(r.stop, (std::vector<std::string>{"<end_of_turn>"}));
  EXPECT_TRUE(r.add_bos);
}

TEST(ChatTemplate, Phi3Rendering) {
  const RenderedChat r = render(ChatTemplateKind::phi3);
  EXPECT_EQ(r.prompt,
            "<|system|>\nYou are terse.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello.<|end|>\n<|user|>\nBye<|end|>\n"
            "<|assistant|>\n");
  EXPECT_EQ(r.stop, (std::vector<std::string>{"<|end|>"}));
  EXPECT_FALSE(r.add_bos);
}

TEST(ChatTemplate, PlainRendering) {
  const RenderedChat r = render(ChatTemplateKind::plain);
  EXPECT_EQ(r.prompt, "System: You are terse.\nUser: Hi\nAssistant: Hello.\nUser: Bye\nAssistant:");
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\nUser:"}));
  EXPECT_TRUE(r.add_bos);
}

TEST(ChatTemplate, PlainWritesToolRoleVerbatim) {
  EXPECT_EQ(render(ChatTemplateKind::plain, {{"tool", "42"}}).prompt, "tool: 42\nAssistant:");
}

TEST(ChatTemplate, UsesModelBosAndEosTexts) {
  const RenderedChat r = render_chat(ChatTemplateKind::llama2, kConversation, "<BOS>", "<EOS>");
  EXPECT_EQ(r.prompt, "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST] Hello. <EOS><BOS>[INST] Bye [/INST]");
  EXPECT_EQ(r.stop, (std::vector<std::string>{"<EOS>"}));
}

TEST(ChatTemplate, EmptyBosEosFallBackToLlamaTokens) {
  EXPECT_EQ(render_chat(ChatTemplateKind::mistral, {{"user", "a"}, {"assistant", "b"}}, "", "").prompt,
            "[INST] a [/INST]b</s>");
}

TEST(ChatTemplate, Llama2WithoutSystem) {
  EXPECT_EQ(render(ChatTemplateKind::llama2, {{"user", "Hi"}}).prompt, "[INST] Hi [/INST]");
}

TEST(ChatTemplate, GemmaSystemAloneBecomesUserTurn) {
  EXPECT_EQ(render(ChatTemplateKind::gemma, {{"system", "Rules"}}).prompt,
            "<start_of_turn>user\nRules<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatTemplate, Llama3WritesToolAsIpython) {
  EXPECT_EQ(render(ChatTemplateKind::llama3, {{"tool", "42"}}).prompt,
            "<|start_header_id|>ipython<|end_header_id|>\n\n42<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, DeveloperRoleIsSystem) {
  EXPECT_EQ(render(ChatTemplateKind::chatml, {{"developer", "x"}}).prompt,
            "<|im_start|>system\nx<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, UnknownRoleIsRejected) {
  try {
    render(ChatTemplateKind::chatml, {{"user", "a"}, {"narrator", "b"}});
    FAIL() << "no error";
  } catch (const ApiException& e) {
    EXPECT_EQ(e.error().status, 400);
    EXPECT_EQ(e.error().param, "messages");
    EXPECT_NE(e.error().message.find("messages[1].role"), std::string::npos) << e.error().message;
    EXPECT_NE(e.error().message.find("narrator"), std::string::npos) << e.error().message;
  }
}

// --- detection from (abridged) tokenizer.chat_template texts as GGUFs carry them ---

TEST(ChatTemplateDetect, Chatml) {
  const char* qwen =
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
      "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
      "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
      "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  EXPECT_EQ(detect_chat_template(qwen), ChatTemplateKind::chatml);
}

TEST(ChatTemplateDetect, Llama3) {
  const char* llama3 =
      "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
      "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
      "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
      "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
  EXPECT_EQ(detect_chat_template(llama3), ChatTemplateKind::llama3);
}

TEST(ChatTemplateDetect, Gemma) {
  const char* gemma =
      "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
      "{% endif %}{% for message in messages %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}"
      "{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + "
      "message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}"
      "{{'<start_of_turn>model\\n'}}{% endif %}";
  EXPECT_EQ(detect_chat_template(gemma), ChatTemplateKind::gemma);
}

TEST(ChatTemplateDetect, Phi3) {
  const char* phi3 =
      "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + "
      "'<|end|>\\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}"
      "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}"
      "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}";
  EXPECT_EQ(detect_chat_template(phi3), ChatTemplateKind::phi3);
}

TEST(ChatTemplateDetect, Zephyr) {
  const char* zephyr =
      "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + "
      "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n"
      "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n"
      "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
  EXPECT_EQ(detect_chat_template(zephyr), ChatTemplateKind::zephyr);
}

TEST(ChatTemplateDetect, Llama2) {
  const char* llama2 =
      "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
      "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
      "{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}{% set content = "
      "'<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = "
      "message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + "
      "' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}"
      "{% endfor %}";
  EXPECT_EQ(detect_chat_template(llama2), ChatTemplateKind::llama2);
}

TEST(ChatTemplateDetect, Mistral) {
  const char* mistral =
      "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
      "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
      "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
      "'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles "
      "are supported!') }}{% endif %}{% endfor %}";
  EXPECT_EQ(detect_chat_template(mistral), ChatTemplateKind::mistral);
}

TEST(ChatTemplateDetect, EmptyOrUnknownIsPlain) {
  EXPECT_EQ(detect_chat_template(""), ChatTemplateKind::plain);
  EXPECT_EQ(detect_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}"), ChatTemplateKind::plain);
}

TEST(ChatTemplateNames, RoundTrip) {
  for (ChatTemplateKind k : {ChatTemplateKind::chatml, ChatTemplateKind::llama2, ChatTemplateKind::llama3,
                             ChatTemplateKind::mistral, ChatTemplateKind::zephyr, ChatTemplateKind::gemma,
                             ChatTemplateKind::phi3, ChatTemplateKind::plain}) {
    EXPECT_EQ(parse_chat_template_name(chat_template_name(k)), k) << chat_template_name(k);
  }
  EXPECT_EQ(chat_template_name(ChatTemplateKind::llama3), "llama3");
}

TEST(ChatTemplateNames, ParseIsCaseInsensitiveAndRejectsUnknown) {
  EXPECT_EQ(parse_chat_template_name("ChatML"), ChatTemplateKind::chatml);
  EXPECT_EQ(parse_chat_template_name("vicuna"), std::nullopt);
  EXPECT_EQ(parse_chat_template_name(""), std::nullopt);
}

}  // namespace
}  // namespace bitdial::serve
