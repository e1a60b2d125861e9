package cn.xuncha.app.core

import cn.xuncha.ffi.CaseStatus
import org.junit.jupiter.api.Assertions.assertEquals
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
}
