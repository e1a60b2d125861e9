import SwiftUI

struct EstateListView: View {
    @EnvironmentObject var model: AppModel
    @State private var estates: [Estate] = []
    @State private var error: String?
    @State private var signOutWarning: String?

    var body: some View {
        List {
            if let error { Text(error).foregroundStyle(.red) }
            ForEach(estates.filter { !$0.exited }, id: \.id) { estate in
                NavigationLink(value: estate.id) {
                    VStack(alignment: .leading) {
                        Text(estate.name).font(.headline)
                        Text("\(estate.district) · \(estate.street) · \(estate.community)").font(.subheadline)
                    }
                }
            }
        }
        .navigationTitle("旧楼区")
        .navigationDestination(for: String.self) { estateId in
            CaptureView(estate: estates.first { $0.id == estateId }!)
        }
        .toolbar {
            NavigationLink("我的案件") { MyCasesView() }
            Button("退出登录") {
                if let warning = model.unsentWarning() {
                    signOutWarning = warning + "。退出后这些记录仍留在本机，由下次在本机登录的账号上传。确定退出？"
                } else {
                    Task { await model.signOut() }
                }
            }
        }
        .alert("退出登录", isPresented: Binding(get: { signOutWarning != nil }, set: { if !$0 { signOutWarning = nil } })) {
            Button("仍然退出", role: .destructive) { Task { await model.signOut() } }
            Button("取消", role: .cancel) {}
        } message: {
            Text(signOutWarning ?? "")
        }
        .task(id: model.revision) {
            let client = model.client
            do { estates = try await background { try client.estates() } }
            catch { self.error = messageZh(error) }
        }
    }
}
