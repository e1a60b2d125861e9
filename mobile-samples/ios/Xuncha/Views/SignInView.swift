import SwiftUI

struct SignInView: View {
    @EnvironmentObject var model: AppModel
    @State private var server = "http://127.0.0.1:8080"
    @State private var username = ""
    @State private var password = ""
    @State private var busy = false
    @State private var error: String?

    var body: some View {
        Form {
            Section("巡查 · 登录") {
                TextField("服务器地址", text: $server).textInputAutocapitalization(.never)
                TextField("用户名", text: $username).textInputAutocapitalization(.never)
                SecureField("密码", text: $password)
            }
            if let error { Text(error).foregroundStyle(.red) }
            if let notice = model.notice { Text(notice).foregroundStyle(.orange) }
            Button(busy ? "登录中…" : "登录并绑定本机") {
                busy = true
                Task {
                    defer { busy = false }
                    do { try await model.signIn(server: server, username: username, password: password) }
                    catch { self.error = messageZh(error) }
                }
            }
            .disabled(busy || username.isEmpty || password.isEmpty)
        }
    }
}
