// Phrase tables of the synthetic support-ticket generator (triage_data.h): for every intent, full
// ticket templates and headline-like short templates, plus the slot fillers and the intent-neutral
// sentences that pad "long" tickets. Tables only; choosing, filling and transforming is triage_data.cpp.
#pragma once

#include <string_view>
#include <vector>

namespace bitdial {

// A template is one line of text with {slot} markers. List slots are filled from triage_slot_values;
// the generated slots ({amount} "$49.99", {order} "#482193", {date}, {days}, {minutes}, {years},
// {last4}) are made by triage_data.cpp. A slot named like another with a trailing "2" ({plan2})
// takes a value different from the one its base slot got in the same ticket.
struct TriageIntentPhrases {
  std::string_view label;                   // the class label: one short lowercase word
  bool rare = false;                        // drawn at TriageOptions::rare_share of the training set
  std::vector<std::string_view> templates;  // whole tickets (one or two sentences)
  // Headlines: 1-4 whitespace-separated words once filled, so they use single-word slots only
  // ({item}, {amount}, {order}, {feature1}, {plan}, {plan2}, {carrier}, {payment1}).
  std::vector<std::string_view> headlines;
};

// Every intent in label order: the order of the choices in the eval task file.
const std::vector<TriageIntentPhrases>& triage_intent_phrases();

// Values of a list slot ("item", "product", "device", ...), or null when `slot` is not a list slot.
const std::vector<std::string_view>* triage_slot_values(std::string_view slot);

// Optional greeting before a ticket and sign-off after it ("Hi,", "Thanks."); may contain slots.
const std::vector<std::string_view>& triage_openers();
const std::vector<std::string_view>& triage_closers();

// Intent-neutral sentences put before and after the request in long tickets; may contain slots.
const std::vector<std::string_view>& triage_ramble_before();
const std::vector<std::string_view>& triage_ramble_after();

}  // namespace bitdial
