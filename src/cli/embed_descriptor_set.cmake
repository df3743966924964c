# Writes OUT, a C file holding the bytes of IN (the FileDescriptorSet protoc
# wrote) as cli_descriptor_set[]. Run as
#   cmake -DIN=set.pb -DOUT=descriptor_set.c -P embed_descriptor_set.cmake
# Without IN (no protoc), the array is empty and its length 0.
set(bytes "0")
set(len 0)
if(DEFINED IN AND EXISTS "${IN}")
  file(READ "${IN}" hex HEX)
  string(LENGTH "${hex}" hexlen)
  math(EXPR len "${hexlen} / 2")
  # 16 bytes a line, each as 0xNN,
  string(REGEX REPLACE "(([0-9a-f][0-9a-f]){16})" "\\1\n" hex "${hex}")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
endif()
file(WRITE "${OUT}.tmp" "/* GENERATED from the FileDescriptorSet of proto/ by embed_descriptor_set.cmake; do not edit. */
#include <stddef.h>

const unsigned char cli_descriptor_set[] = {
${bytes}
};
const size_t cli_descriptor_set_len = ${len};
")
file(RENAME "${OUT}.tmp" "${OUT}")
