//! Errors of the photo pipeline. Every refusal has its own stable [`PhotoError::code`] so the
//! app can show a specific message and the server can answer with `{code, message}`.

use std::path::PathBuf;

/// Why a photo was refused or could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// The input has no bytes at all.
    #[error("照片文件为空 (empty file)")]
    Empty,
    /// The bytes are no image format we know (e.g. a text file renamed `.jpg`).
    #[error("不是图片文件 (not an image)")]
    NotAnImage,
    /// A real image format that the pipeline does not take (HEIC, WebP, GIF, TIFF, 12-bit JPEG…).
    #[error("不支持的图片格式: {0} (unsupported format)")]
    UnsupportedFormat(String),
    /// The file ends before the image does.
    #[error("图片文件不完整 (truncated image)")]
    Truncated,
    /// The image structure or its compressed data is broken.
    #[error("图片文件已损坏: {0} (corrupt image)")]
    Corrupt(String),
    /// The header declares more pixels than the pipeline accepts (checked before decoding).
    #[error("图片像素过多: {width}×{height}, 上限 {max_pixels} 像素 (too many pixels)")]
    TooManyPixels {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    /// Decoding would need more memory than the budget (checked before decoding).
    #[error("解码需要约 {needed_bytes} 字节内存, 超过上限 {budget_bytes} (over memory budget)")]
    OverMemoryBudget {
        needed_bytes: u64,
        budget_bytes: u64,
    },
    /// The input file is larger than any photo the pipeline accepts.
    #[error("照片文件过大: {bytes} 字节, 上限 {max_bytes} (file too large)")]
    FileTooLarge { bytes: u64, max_bytes: u64 },
    /// The options themselves are unusable (zero edge, quality outside 1..=100…).
    #[error("照片处理参数无效: {0} (invalid options)")]
    InvalidOptions(String),
    /// Reading the input or writing the output failed.
    #[error("照片读写失败 {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The JPEG encoder refused the image (should not happen for decoded input).
    #[error("照片编码失败: {0} (encode failed)")]
    Encode(String),
    /// A decoder panicked on hostile input; caught so the app does not crash.
    #[error("图片解码器内部错误 (decoder panicked)")]
    DecoderPanic,
}

impl PhotoError {
    /// Stable machine code, e.g. `PHOTO_TRUNCATED`. Never renamed once published.
    pub fn code(&self) -> &'static str {
        match self {
            PhotoError::Empty => "PHOTO_EMPTY",
            PhotoError::NotAnImage => "PHOTO_NOT_AN_IMAGE",
            PhotoError::UnsupportedFormat(_) => "PHOTO_UNSUPPORTED_FORMAT",
            PhotoError::Truncated => "PHOTO_TRUNCATED",
            PhotoError::Corrupt(_) => "PHOTO_CORRUPT",
            PhotoError::TooManyPixels { .. } => "PHOTO_TOO_MANY_PIXELS",
            PhotoError::OverMemoryBudget { .. } => "PHOTO_OVER_MEMORY_BUDGET",
            PhotoError::FileTooLarge { .. } => "PHOTO_FILE_TOO_LARGE",
            PhotoError::InvalidOptions(_) => "PHOTO_INVALID_OPTIONS",
            PhotoError::Io { .. } => "PHOTO_IO",
            PhotoError::Encode(_) => "PHOTO_ENCODE_FAILED",
            PhotoError::DecoderPanic => "PHOTO_DECODER_PANIC",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> PhotoError {
        PhotoError::Io {
            path: path.into(),
            source,
        }
    }
}
