package cn.xuncha.app.core

import cn.xuncha.ffi.XunchaException

/** What the user reads when a call fails: Chinese, and says whether anything was lost (never). */
fun XunchaException.userMessageZh(): String =
    when (this) {
        is XunchaException.Network -> "网络不可用，记录已保存在手机上，联网后自动上传"
        is XunchaException.Unauthenticated -> "登录已失效，请重新登录"
        is XunchaException.NotAllowed -> "当前身份不能执行此操作（$code）"
        is XunchaException.InvalidInput -> "输入有误：$detail"
        is XunchaException.NotFound -> "未找到（$code）"
        is XunchaException.Server -> "服务器暂时无法处理（$code），稍后重试"
        is XunchaException.Storage -> "手机存储出错（$code）：$detail"
    }
