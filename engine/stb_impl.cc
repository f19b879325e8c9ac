// The one translation unit that instantiates stb_image and stb_image_write
// (Debian's libstb-dev ships headers only). It is its own static library so
// that its flags (engine/meson.build) cover third-party code and nothing of
// ours: stb's JPEG writer left-shifts negative DCT values by design, which
// C++17 leaves undefined and UBSan reports, although GCC (and C++20) define
// it as the two's-complement shift stb expects.

// Third-party code: its own warnings are not ours to fix.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_HDR  // HDR/PIC/PNM/PSD/GIF are not image formats the reference reads
#define STBI_NO_PIC
#define STBI_NO_PNM
#define STBI_NO_PSD
#define STBI_NO_GIF
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#pragma GCC diagnostic pop
