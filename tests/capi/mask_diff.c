/* mask_diff A.png B.pgm: counts the pixels where the foreground (> 0 in
 * the first channel) of two masks differs; exit 0 when none does, 1 when
 * some do, 2 when a file cannot be read or the sizes differ. The install
 * test's checker (stb_image reads both formats). */
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_PNM
#include <stb_image.h>
#include <stdio.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: mask_diff A B\n");
    return 2;
  }
  int w[2], h[2], c;
  unsigned char* m[2];
  for (int i = 0; i < 2; ++i) {
    m[i] = stbi_load(argv[1 + i], &w[i], &h[i], &c, 1);
    if (m[i] == NULL) {
      fprintf(stderr, "mask_diff: cannot read %s: %s\n", argv[1 + i], stbi_failure_reason());
      return 2;
    }
  }
  if (w[0] != w[1] || h[0] != h[1]) {
    fprintf(stderr, "mask_diff: %s is %d x %d, %s is %d x %d\n", argv[1], w[0], h[0], argv[2], w[1], h[1]);
    return 2;
  }
  long differ = 0, fg = 0;
  for (long i = 0; i < (long)w[0] * h[0]; ++i) {
    differ += (m[0][i] > 0) != (m[1][i] > 0);
    fg += m[0][i] > 0;
  }
  printf("mask_diff: %d x %d, %ld foreground pixels in %s, %ld differ\n", w[0], h[0], fg, argv[1], differ);
  stbi_image_free(m[0]);
  stbi_image_free(m[1]);
  return differ == 0 ? 0 : 1;
}
