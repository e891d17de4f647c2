"""Model out as text: XML, shell/JSON/lines, explanations, tables."""
