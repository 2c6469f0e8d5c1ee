# Writes OUTPUT, a C source holding the bytes of INPUT as the array NAME
# (NUL-terminated) and NAME_len, so the web page ships inside the binary.
# Usage: cmake -DINPUT=file -DOUTPUT=file.c -DNAME=symbol -P embed_file.cmake
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUTPUT}" "/* Generated from ${INPUT} by cmake/embed_file.cmake: do not edit. */\n"
     "#include <stddef.h>\nconst unsigned char ${NAME}[] = {\n${bytes}0};\n"
     "const size_t ${NAME}_len = sizeof ${NAME} - 1;\n")
