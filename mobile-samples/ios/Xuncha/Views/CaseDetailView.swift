import SwiftUI

struct CaseDetailView: View {
    @EnvironmentObject var model: AppModel
    let caseId: String
    @State private var detail: CaseDetail?
    @State private var units: [OrgUnit] = []
    @State private var reason = ""
    @State private var error: String?
    /// HANDLE needs after-photos and VERIFY a verification photo: the camera opens first.
    @State private var photoAction: CaseAction?
    @State private var showCamera = false

    var body: some View {
        List {
            if let detail {
                Section {
                    Text(categoryInfo(category: detail.`case`.category).nameZh).font(.title2)
                    Text("案件编号：\(detail.number ?? "同步后由服务器编号")")
                    Text("状态：\(caseStatusNameZh(status: detail.`case`.status))\(detail.`case`.overdue ? "（已超期）" : "")")
                    Text("派遣时限：\(beijing.string(from: detail.`case`.dispatchDue))")
                    if let due = detail.`case`.handleDue { Text("处置时限：\(beijing.string(from: due))") }
                    ScrollView(.horizontal) {
                        HStack {
                            ForEach(detail.photos.compactMap(\.thumbnailPath), id: \.self) { path in
                                if let image = UIImage(contentsOfFile: path) {
                                    Image(uiImage: image).resizable().scaledToFill().frame(width: 96, height: 96).clipped()
                                }
                            }
                        }
                    }
                    // Parked: refused by the server for good, or the file is gone from the phone.
                    // Not sent again. Only a size refusal (a server setting) or a file that may
                    // be put back is worth a manual retry.
                    ForEach(detail.photos.filter { $0.uploadState == .refused }, id: \.sha256) { photo in
                        if photo.refusalCode == "PHOTO_FILE_MISSING" {
                            Text("照片文件已不在手机上（PHOTO_FILE_MISSING），无法上传；找回文件后可重新上传。")
                                .foregroundStyle(.red).font(.footnote)
                        } else {
                            Text("照片被服务器拒收（\(photo.refusalCode ?? "未知")）\(photo.refusalMessage.map { "：" + $0 } ?? "")。照片仍保存在手机上。")
                                .foregroundStyle(.red).font(.footnote)
                        }
                        if photo.refusalCode == "PHOTO_TOO_LARGE" || photo.refusalCode == "PHOTO_FILE_MISSING" {
                            Button("重新上传") {
                                _ = try? model.client.retryRefusedPhoto(sha256: photo.sha256)
                                model.changed()
                            }
                        }
                    }
                }
                Section("处理记录") {
                    ForEach(detail.timeline, id: \.eventId) { e in
                        VStack(alignment: .leading) {
                            Text("\(beijing.string(from: e.serverTime ?? e.deviceTime))  \(actionNameZh(kind: e.action.kind)) · \(roleNameZh(role: e.actor.role))")
                            if let note = e.note { Text(note) }
                            if let r = e.action.reason { Text("原因：\(r)") }
                            Text(syncText(e)).font(.footnote)
                        }
                    }
                }
                Section("操作") {
                    if detail.allowedActions.contains(where: { [.return, .reopen, .cancel].contains($0) }) {
                        TextField("原因（退回/返工/作废必填）", text: $reason)
                    }
                    ForEach(detail.allowedActions.filter { $0 != .report }, id: \.self) { kind in
                        if kind == .dispatch {
                            Menu(actionNameZh(kind: kind)) {
                                ForEach(units, id: \.id) { unit in
                                    Button(unit.name) { perform(.dispatch(unitId: unit.id)) }
                                }
                            }
                        } else if kind == .handle || kind == .verify, let action = action(for: kind) {
                            Button("\(actionNameZh(kind: kind))（拍照）") { photoAction = action; showCamera = true }
                        } else if let action = action(for: kind) {
                            Button(actionNameZh(kind: kind)) { perform(action) }
                        }
                    }
                }
            }
            if let error { Text(error).foregroundStyle(.red) }
        }
        .navigationTitle("案件详情")
        .sheet(isPresented: $showCamera) {
            CameraPicker { path in
                if let action = photoAction { perform(action, photos: [path]) }
                photoAction = nil
            }
        }
        .task(id: model.revision) { await load() }
    }

    private func syncText(_ e: TimelineEntry) -> String {
        switch e.syncState {
        case .pending: return "在手机上"
        case .inFlight: return "正在上传"
        case .synced: return "已接收"
        case .rejected: return "被拒绝：\(e.rejectMessage ?? e.rejectCode ?? "")"
        }
    }

    private func action(for kind: ActionKind) -> CaseAction? {
        switch kind {
        case .dissuade: return .dissuade
        case .escalate: return .escalate
        case .accept: return .accept
        case .return: return .return(reason: reason)
        case .handle: return .handle
        case .verify: return .verify
        case .reopen: return .reopen(reason: reason)
        case .cancel: return .cancel(reason: reason)
        case .comment: return .comment
        case .report, .dispatch, .minutes: return nil // minutes: the street office's dashboard
        }
    }

    private func load() async {
        let client = model.client
        let id = caseId
        do {
            let d = try await background { try client.caseDetail(caseId: id) }
            detail = d
            if d.allowedActions.contains(.dispatch) { units = try await background { try client.units() } }
        } catch { self.error = messageZh(error) }
    }

    private func perform(_ action: CaseAction, photos: [String] = []) {
        let client = model.client
        let id = caseId
        let kind: PhotoKind
        switch action {
        case .handle: kind = .after
        case .verify, .reopen: kind = .verification
        default: kind = .before
        }
        let draft = ActionDraft(action: action, note: nil, gps: nil, photoPaths: photos, photoKind: kind)
        Task {
            do {
                _ = try await background { try client.act(caseId: id, draft: draft) }
                model.changed()
            } catch { self.error = messageZh(error) }
        }
    }
}
