// Compute precision of the image encoder's GEMMs (issue 7).
//   kF32:  float32 everywhere (the reference's arithmetic).
//   kBF16: the encoder's Linear / convolution-as-GEMM weights and their input
//          activations rounded to bfloat16, products accumulated in float32
//          (kernels::GemmBF16).
//   kInt8: those weights int8 per output channel, activations int8 per token
//          (dynamic, per row of the GEMM input), int32 accumulation
//          (kernels::GemmI8).
// (TinyViT: its Linears and dense convolutions except the first 3-channel
// patch embedding conv; depthwise convolutions stay f32.)
// SAM's ViT under kBF16 and kInt8 also runs its attention products (q k^T,
// P v) on bf16 operands (AttentionPrecision below).
// Everything else stays float32 in every mode: LayerNorm, softmax, GELU, the
// relative-position bias, TinyViT's attention, the position embedding, and
// the whole prompt encoder and mask decoder (a few milliseconds per prompt:
// nothing to win, and their small attentions are where precision matters
// for the masks).
#ifndef PERSAM_ENGINE_PRECISION_H_
#define PERSAM_ENGINE_PRECISION_H_

#include <string>
#include <vector>

#include "weights/sam_config.h"
#include "weights/tensor.h"

namespace persam {

enum class Precision { kF32, kBF16, kInt8 };

const char* PrecisionName(Precision precision);  // "f32", "bf16", "int8"

// Accepts f32/float32, bf16/bfloat16, int8; throws persam::Error naming
// `what` (e.g. "--precision") otherwise.
Precision ParsePrecision(const std::string& text, const std::string& what);

// The precision a weight file was stored for (persam convert --dtype): int8
// when it holds int8 tensors with per-channel scales, bf16 when the image
// encoder's weights are bfloat16, float32 otherwise (f32, f16, .pth files).
Precision StoredPrecision(const TensorMap& tensors);

// The precision of the ViT neck's two convolutions (the last GEMMs before the
// embedding) under `precision`: bf16 in int8 mode. Measured on the fixture
// model (cat/00): int8 neck 2.0e-2 embedding relative RMS error, bf16 neck
// 1.6e-2, float32 neck 1.55e-2; the neck is ~1 % of the encoder's work.
Precision NeckPrecision(Precision precision);

// The precision of the ViT's attention products q k^T and P v (their
// softmax and relative-position bias stay float32): bf16 operands with
// float32 accumulation (kernels::AttentionBatchBF16) under bf16 and int8,
// float32 under f32. ~1.4x faster attention (ViT-B, one thread). Measured
// on the fixture model, float32 -> bf16 attention: embedding relative RMS
// error bf16 5.14e-3 -> 5.17e-3 (cat/00), 5.46e-3 -> 5.50e-3 (cat/01); int8
// 1.58e-2 -> 1.58e-2, 1.72e-2 -> 1.73e-2; min predictor mask IoU bf16 0.9875
// -> 0.9875, int8 0.9563 -> 0.9560; min PerSAM final mask IoU bf16 0.9750 ->
// 0.9757, int8 0.9310 -> 0.9305 (colorful_sneaker/01; bound 0.93; the int8
// mean rises 0.9646 -> 0.9656: mask-threshold flips, not a drift).
Precision AttentionPrecision(Precision precision);

// The weights the image encoder runs in int8 under Precision::kInt8 (the
// ones `persam convert --dtype int8` quantises): for the ViT, every block's
// attn.qkv, attn.proj, mlp.lin1 and mlp.lin2 and the patch embedding. Empty
// for TinyViT (its int8 mode quantises float weights at load; int8 files are
// only written for the ViT).
std::vector<std::string> Int8Weights(const SamConfig& config);

// The ViT neck's convolution weights (run at NeckPrecision).
std::vector<std::string> NeckWeights(const SamConfig& config);

// The ViT position embedding [1, grid, grid, C] ("" for TinyViT): `persam
// convert --dtype int8` stores it as int8 with one scale per position (it is
// 6 MB of ViT-B even in float16); the encoder adds it in float32.
std::string PositionEmbeddingName(const SamConfig& config);

// What `persam convert --dtype int8` stores, in place: Int8Weights as int8
// with per-output-channel scales, the position embedding as int8 with
// per-position scales, the neck weights as bf16, every other float tensor
// as float16. Tensors already quantised are kept. Returns how many tensors
// it quantised.
int QuantizeTensorsForInt8(const SamConfig& config, TensorMap* tensors);

}  // namespace persam

#endif  // PERSAM_ENGINE_PRECISION_H_
