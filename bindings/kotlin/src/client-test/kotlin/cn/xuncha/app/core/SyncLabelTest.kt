package cn.xuncha.app.core

import cn.xuncha.ffi.CasePhoto
import cn.xuncha.ffi.CaseStatus
import cn.xuncha.ffi.PhotoKind
import cn.xuncha.ffi.PhotoUploadState
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Test

class SyncLabelTest {
    @Test
    fun `status labels are Chinese`() {
        assertEquals("正在上传 2/3 张照片", SyncLabel.Uploading(2, 3).textZh)
        assertEquals("在手机上", SyncLabel.OnPhone.textZh)
        assertEquals("已接收", SyncLabel.Received.textZh)
        assertEquals("已派遣", SyncLabel.Status(CaseStatus.DISPATCHED).textZh)
        assertEquals("1 张照片未能上传", SyncLabel.PhotosRefused(1).textZh)
    }

    @Test
    fun `a refused photo says why and only a size refusal offers a retry`() {
        val refused = CasePhoto(
            "ab".repeat(32), PhotoKind.BEFORE, "/p.jpg", "/t.jpg", false,
            PhotoUploadState.REFUSED, "PHOTO_UNDECODABLE", "照片无法解码",
        )
        assertEquals("照片被服务器拒收（PHOTO_UNDECODABLE）：照片无法解码。照片仍保存在手机上。", refusalTextZh(refused))
        assertNull(refusalTextZh(refused.copy(uploadState = PhotoUploadState.PENDING, refusalCode = null, refusalMessage = null)))
        assertEquals(setOf("PHOTO_TOO_LARGE", "PHOTO_FILE_MISSING"), RETRYABLE_REFUSALS)
    }

    @Test
    fun `a photo whose file is gone says so, not that the server refused it`() {
        val missing = CasePhoto(
            "cd".repeat(32), PhotoKind.BEFORE, "/p.jpg", "/t.jpg", false,
            PhotoUploadState.REFUSED, "PHOTO_FILE_MISSING", "/p.jpg: No such file or directory (os error 2)",
        )
        assertEquals("照片文件已不在手机上（PHOTO_FILE_MISSING），无法上传；找回文件后可重新上传。", refusalTextZh(missing))
    }
}
