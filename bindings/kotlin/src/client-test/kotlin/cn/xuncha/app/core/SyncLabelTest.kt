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
        assertEquals("1 张照片被服务器拒收", SyncLabel.PhotosRefused(1).textZh)
    }

    @Test
    fun `a refused photo says why and only a size refusal offers a retry`() {
        val refused = CasePhoto(
            "ab".repeat(32), PhotoKind.BEFORE, "/p.jpg", "/t.jpg", false,
            PhotoUploadState.REFUSED, "PHOTO_UNDECODABLE", "照片无法解码",
        )
        assertEquals("照片被服务器拒收（PHOTO_UNDECODABLE）：照片无法解码。照片仍保存在手机上。", refusalTextZh(refused))
        assertNull(refusalTextZh(refused.copy(uploadState = PhotoUploadState.PENDING, refusalCode = null, refusalMessage = null)))
        assertEquals(setOf("PHOTO_TOO_LARGE"), RETRYABLE_REFUSALS)
    }
}
