import SwiftUI

/// Per-case sync state, same rules as the Android sample's `syncLabel` (tested on the JVM).
func syncLabel(_ item: CaseListItem, syncing: Bool) -> String {
    if item.unsyncedChanges > 0 && syncing && item.photosUploaded < item.photosTotal {
        return "正在上传 \(item.photosUploaded)/\(item.photosTotal) 张照片"
    }
    if item.unsyncedChanges > 0 { return "在手机上" }
    if item.photosRefused > 0 { return "\(item.photosRefused) 张照片未能上传" }
    if item.`case`.status == .reported { return "已接收" }
    return caseStatusNameZh(status: item.`case`.status)
}

let beijing: DateFormatter = {
    let f = DateFormatter()
    f.dateFormat = "MM-dd HH:mm"
    f.timeZone = TimeZone(identifier: "Asia/Shanghai")
    return f
}()

struct MyCasesView: View {
    @EnvironmentObject var model: AppModel
    @State private var items: [CaseListItem] = []
    @State private var status: CaseStatus?
    @State private var error: String?

    var body: some View {
        List {
            if !model.syncText.isEmpty { Text(model.syncText).font(.footnote) }
            Picker("状态", selection: $status) {
                Text("全部").tag(CaseStatus?.none)
                ForEach([CaseStatus.reported, .dispatched, .handled, .closed], id: \.self) {
                    Text(caseStatusNameZh(status: $0)).tag(Optional($0))
                }
            }
            .pickerStyle(.segmented)
            if let error { Text(error).foregroundStyle(.red) }
            ForEach(items, id: \.`case`.id) { item in
                NavigationLink { CaseDetailView(caseId: item.`case`.id) } label: {
                    VStack(alignment: .leading) {
                        Text(categoryInfo(category: item.`case`.category).nameZh).font(.headline)
                        // The server's case number (案件编号); none until the case has synced.
                        Text(item.number ?? "待同步编号").font(.footnote)
                        HStack {
                            Text(syncLabel(item, syncing: model.syncing))
                            Spacer()
                            Text(beijing.string(from: item.`case`.reportedAt))
                            if item.`case`.overdue { Text("已超期").foregroundStyle(.red) }
                        }.font(.footnote)
                    }
                }
            }
        }
        .navigationTitle("我的案件")
        .toolbar { Button(model.syncing ? "同步中" : "立即同步") { Task { await model.syncNow() } }.disabled(model.syncing) }
        .refreshable { await model.syncNow() }
        .task(id: "\(model.revision)|\(String(describing: status))") {
            let client = model.client
            let filter = CaseFilter(statuses: status.map { [$0] } ?? [], categories: [], estateIds: [],
                                    overdueOnly: false, text: nil)
            do { items = try await background { try client.listCases(filter: filter, pageSize: 100, pageToken: nil) }.items }
            catch { self.error = messageZh(error) }
        }
    }
}
