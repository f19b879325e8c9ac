// Placeholder translation unit until the PerSAM sources land.
namespace persam {
int PersamLibraryAnchor() { return 0; }
}  // namespace persam
