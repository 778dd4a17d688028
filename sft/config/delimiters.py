"""The delimiters `data.delimiter` accepts (one home, imported by the schema check and by the
table reader; plain constants, so that `sft.load` reading a table imports no OmegaConf)."""

# data.delimiter (text data): `auto`, or how each delimiter may be written -> the character.
# On the command line a tab arrives as the two characters `\t` (Hydra keeps the backslash).
DELIMITERS = {",": ",", ";": ";", "\t": "\t", "\\t": "\t", "tab": "\t", "|": "|"}
DELIMITER_CHOICES = "auto, ',', ';', '\\t', '|'"  # as a message shows them
