# Writes OUT: `const char SYMBOL[]`, the bytes of IN followed by a NUL.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
file(WRITE ${OUT} "/* Generated from ${IN} by cmake/embed_file.cmake. */\nconst char ${SYMBOL}[] = {${hex}0x00};\n")
