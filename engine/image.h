// Decoding and encoding images, always as RGB uint8, the way the reference
// reads them (cv2.imread(IMREAD_COLOR) then BGR->RGB, EXIF orientation
// applied to JPEGs). Decoders: libjpeg-turbo (JPEG), libspng (PNG), libwebp
// and libheif when built in (meson options -Dwebp, -Dheif), stb_image behind
// our own header checks (BMP, TGA). Encoders: libdeflate with our PNG
// framing (engine/image_png_encode.cc), libjpeg-turbo.
// Every decoder reads the dimensions from the header and checks them against
// MaxImagePixels() before allocating the image.
#ifndef PERSAM_ENGINE_IMAGE_H_
#define PERSAM_ENGINE_IMAGE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace persam {

struct RgbImage {
  int height = 0;
  int width = 0;
  std::vector<uint8_t> pixels;  // height * width * 3, row-major, interleaved RGB
};

// PIL's decompression-bomb error threshold (2 x Image.MAX_IMAGE_PIXELS): a
// 13,377 x 13,377 image, far beyond any camera's, 512 MiB as RGB.
constexpr uint64_t kDefaultMaxImagePixels = 2 * uint64_t{89478485};
// The largest width * height a decoder accepts (process-wide; 0 = no limit).
void SetMaxImagePixels(uint64_t max_pixels);
uint64_t MaxImagePixels();

// Throws persam::Error naming the file when it cannot be read or decoded.
RgbImage LoadImage(const std::string& path);
// The file's bytes, as LoadImage reads them (DecodeImage decodes them): a
// caller that frees the pixels for a while and decodes again later.
std::vector<uint8_t> ReadImageFile(const std::string& path);
// Decodes an image held in memory (an upload, say); `name` names it in errors.
// The same formats and limits as LoadImage.
RgbImage DecodeImage(const uint8_t* data, size_t size, const std::string& name);
// The formats this build decodes, for messages ("JPEG, PNG, ...").
std::string DecodableFormats();

// PNG files in memory, for writers that are not plain files (HTTP responses).
std::vector<uint8_t> EncodePng(const RgbImage& image);
std::vector<uint8_t> EncodeGrayPng(int height, int width, const uint8_t* pixels);
// RGBA (e.g. a cut-out with a transparent background): height * width * 4 bytes.
std::vector<uint8_t> EncodeRgbaPng(int height, int width, const uint8_t* pixels);
// A mask whose every byte is 0 or 255, as a 1-bit grey PNG (8x smaller
// before compression). PIL (.convert('L')) and cv2.imread read it back as
// 0/255; any other value is an error.
std::vector<uint8_t> EncodeBinaryMaskPng(int height, int width, const uint8_t* mask);
void SavePng(const std::string& path, const RgbImage& image);
void SaveJpeg(const std::string& path, const RgbImage& image, int quality = 90);
// Single-channel 8-bit PNG (any grey levels).
void SaveGrayPng(const std::string& path, int height, int width, const uint8_t* pixels);
// A 0/255 mask as a 1-bit PNG (see EncodeBinaryMaskPng).
void SaveBinaryMaskPng(const std::string& path, int height, int width, const uint8_t* mask);
// The same as a 1-bit palette PNG: 0 black, 255 `colour` (e.g. PerSAM's
// (128, 0, 0)); Pillow's .convert('RGB') and cv2.imread read it as RGB.
void SaveBinaryMaskPng(const std::string& path, int height, int width, const uint8_t* mask,
                       const uint8_t colour[3]);

}  // namespace persam

#endif  // PERSAM_ENGINE_IMAGE_H_
